variable "mcp_tokens" {
  description = "Bearer tokens for aios's MCP HTTP server, comma-separated (required: the server binds a non-loopback address inside its container)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(var.mcp_tokens)) > 0
    error_message = "Set mcp_tokens (TF_VAR_mcp_tokens or a git-ignored terraform.tfvars); there is no default."
  }
}

variable "aios_image" {
  description = "Image for aios; built from the repository when build_aios is true."
  type        = string
  default     = "aios:local"
}

variable "build_aios" {
  description = "Build aios_image from the Dockerfile at the repository root (false = pull it)."
  type        = bool
  default     = true
}

variable "llm_model" {
  description = "Default model for every agent (pull it into Ollama first)."
  type        = string
  default     = "llama3"
}

variable "node_name" {
  description = "aios node name shown in the UI and on the bus."
  type        = string
  default     = "server-1"
}

variable "bind_ip" {
  description = "Host address the published ports listen on; loopback by default (reach them through SSH)."
  type        = string
  default     = "127.0.0.1"
}
