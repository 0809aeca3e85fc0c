# The spec's stack as Docker containers: Redis, Qdrant, Ollama and aios headless, on one
# network, each with a volume and a healthcheck. docker-compose.yml is the same stack plus
# monitoring; use one or the other on a host, not both (same container ports).

resource "docker_network" "aios" {
  name = "aios"
}

resource "docker_volume" "redis_data" {
  name = "aios-redis-data"
}

resource "docker_volume" "qdrant_data" {
  name = "aios-qdrant-data"
}

resource "docker_volume" "ollama_data" {
  name = "aios-ollama-data"
}

resource "docker_volume" "aios_data" {
  name = "aios-data"
}

resource "docker_image" "redis" {
  name         = "redis:7"
  keep_locally = true
}

resource "docker_container" "redis" {
  name    = "redis"
  image   = docker_image.redis.image_id
  restart = "unless-stopped"
  # AOF, so intents on the stream survive a restart.
  command = ["redis-server", "--appendonly", "yes"]

  networks_advanced {
    name = docker_network.aios.id
  }
  ports {
    internal = 6379
    external = 6379
    ip       = var.bind_ip
  }
  volumes {
    volume_name    = docker_volume.redis_data.name
    container_path = "/data"
  }
  healthcheck {
    test     = ["CMD", "redis-cli", "ping"]
    interval = "10s"
    timeout  = "3s"
    retries  = 5
  }
}

resource "docker_image" "qdrant" {
  name         = "qdrant/qdrant"
  keep_locally = true
}

resource "docker_container" "qdrant" {
  name    = "qdrant"
  image   = docker_image.qdrant.image_id
  restart = "unless-stopped"

  networks_advanced {
    name = docker_network.aios.id
  }
  ports {
    internal = 6333
    external = 6333
    ip       = var.bind_ip
  }
  ports {
    internal = 6334
    external = 6334
    ip       = var.bind_ip
  }
  volumes {
    volume_name    = docker_volume.qdrant_data.name
    container_path = "/qdrant/storage"
  }
  healthcheck {
    # No curl in the image: bash's /dev/tcp asks /readyz.
    test     = ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6333 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
    interval = "10s"
    timeout  = "5s"
    retries  = 5
  }
}

resource "docker_image" "ollama" {
  name         = "ollama/ollama"
  keep_locally = true
}

resource "docker_container" "ollama" {
  name    = "ollama"
  image   = docker_image.ollama.image_id
  restart = "unless-stopped"

  networks_advanced {
    name = docker_network.aios.id
  }
  ports {
    internal = 11434
    external = 11434
    ip       = var.bind_ip
  }
  volumes {
    volume_name    = docker_volume.ollama_data.name
    container_path = "/root/.ollama"
  }
  healthcheck {
    test     = ["CMD", "ollama", "list"]
    interval = "10s"
    timeout  = "5s"
    retries  = 5
  }
}

resource "docker_image" "aios" {
  name         = var.aios_image
  keep_locally = true

  dynamic "build" {
    for_each = var.build_aios ? [1] : []
    content {
      context = abspath("${path.module}/..")
    }
  }
}

resource "docker_container" "aios" {
  name    = "aios"
  image   = docker_image.aios.image_id
  restart = "unless-stopped"
  env = [
    "AIOS_RUNTIME_NODE=${var.node_name}",
    "AIOS_RUNTIME_DATA_DIR=/var/lib/aios",
    "AIOS_BUS_BACKEND=redis",
    "AIOS_BUS_URL=redis://${docker_container.redis.name}:6379",
    "AIOS_MEMORY_BACKEND=qdrant",
    "AIOS_MEMORY_URL=http://${docker_container.qdrant.name}:6334",
    "AIOS_MEMORY_EMBEDDER=auto",
    "AIOS_LLM_RUNNER=ollama",
    "AIOS_LLM_MODEL=${var.llm_model}",
    "AIOS_LLM_OLLAMA_URL=http://${docker_container.ollama.name}:11434",
    "AIOS_MCP_HTTP_BIND=0.0.0.0:8765",
    "AIOS_MCP_TOKENS=${var.mcp_tokens}",
    "AIOS_METRICS_BIND=0.0.0.0:9464",
  ]

  networks_advanced {
    name = docker_network.aios.id
  }
  ports {
    internal = 8765
    external = 8765
    ip       = var.bind_ip
  }
  ports {
    internal = 9464
    external = 9464
    ip       = var.bind_ip
  }
  volumes {
    volume_name    = docker_volume.aios_data.name
    container_path = "/var/lib/aios"
  }
  healthcheck {
    # Asks the running server over its control socket; never opens the data dir itself.
    test         = ["CMD", "aios", "health"]
    interval     = "15s"
    timeout      = "10s"
    retries      = 3
    start_period = "30s"
  }
}
