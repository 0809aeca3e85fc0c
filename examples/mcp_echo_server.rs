//! The MCP server of the MCP client tests (`tests/mcp_client.rs`) as a process spoken to
//! on stdio: `cargo build --example mcp_echo_server`. Its tools are described in
//! `tests/support/mcp_echo.rs`.

#[path = "../tests/support/mcp_echo.rs"]
mod mcp_echo;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    mcp_echo::serve_stdio().await;
}
