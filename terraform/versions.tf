terraform {
  required_version = ">= 1.3"

  required_providers {
    docker = {
      source  = "kreuzwerker/docker"
      version = "~> 3.0.1"
    }
  }
}

# The local Docker engine; point it elsewhere with DOCKER_HOST (e.g. ssh://user@server).
provider "docker" {}
