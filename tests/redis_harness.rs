//! The Redis harness itself: a private server on a free port that can be restarted.

mod support;

use support::redis_server::RedisServer;

#[test]
fn starts_on_a_free_port_and_restarts() {
    let mut redis = RedisServer::start();
    assert_ne!(redis.port, 6379, "never the machine's own Redis");
    assert!(redis.ping());
    redis.restart();
    assert!(redis.ping());
    let port = redis.port;
    drop(redis);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped on drop"
    );
}
