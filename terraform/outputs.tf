output "attach" {
  description = "Watch the server from the operator's machine (through an SSH tunnel when bind_ip is loopback)."
  value       = "aios tui --attach redis://${var.bind_ip}:6379"
}

output "mcp_url" {
  description = "aios's MCP Streamable HTTP endpoint (send Authorization: Bearer <token>)."
  value       = "http://${var.bind_ip}:8765/mcp"
}

output "metrics_url" {
  description = "aios's Prometheus metrics."
  value       = "http://${var.bind_ip}:9464/metrics"
}
