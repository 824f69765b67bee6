//! Before anything starts: the brokers answer and the ports are free, each with a message
//! that says what to do when they are not.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::plan::Ports;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn redis_url() -> String {
    std::env::var("HERALD_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn amqp_url() -> String {
    std::env::var("HERALD_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `host:port` of a `scheme://[user[:pass]@]host[:port][/...]` URL.
fn address(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
}

/// A `PING` over the Redis protocol: something listening is not enough, it must be Redis.
async fn ping_redis(address: &str) -> Result<(), String> {
    let mut stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"PING\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = [0u8; 64];
    let n = tokio::time::timeout(TIMEOUT, stream.read(&mut reply))
        .await
        .map_err(|_| "no reply to PING".to_owned())?
        .map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(&reply[..n]);
    if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        Err(format!("unexpected reply to PING: {}", reply.trim()))
    }
}

pub async fn brokers() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let redis = redis_url();
    if let Err(e) = ping_redis(&address(&redis, 6379)).await {
        problems.push(format!(
            "Redis is not reachable at {redis} ({e}). Start it with:\n    \
             redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no\n  \
             (or `docker compose up -d redis`, or set HERALD_REDIS_URL)"
        ));
    }
    let amqp = amqp_url();
    let publisher = herald_service::events::Publisher::new(amqp.clone(), "herald-launcher");
    let checked = tokio::time::timeout(TIMEOUT, publisher.check()).await;
    let failure = match checked {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some("timed out".to_owned()),
    };
    if let Some(e) = failure {
        problems.push(format!(
            "RabbitMQ is not reachable at {} ({e}). Start it with:\n    \
             rabbitmq-server -detached\n  \
             (or `docker compose up -d rabbitmq`, or set HERALD_AMQP_URL)",
            redact(&amqp)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub async fn ports_free(ports: &Ports) -> anyhow::Result<()> {
    let mut taken = Vec::new();
    for (name, port) in ports.all() {
        if TcpListener::bind(("127.0.0.1", port)).await.is_err() {
            taken.push(format!("{port} ({name})"));
        }
    }
    if taken.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "port(s) already in use: {}. Is another `herald dev` running? Stop it, or pick other \
             ports with --port-offset N",
            taken.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_urls() {
        assert_eq!(address("redis://127.0.0.1:6379", 1), "127.0.0.1:6379");
        assert_eq!(address("redis://cache", 6379), "cache:6379");
        assert_eq!(address("redis://:secret@cache:7000/0", 6379), "cache:7000");
        assert_eq!(
            address("amqp://guest:guest@127.0.0.1:5672/%2f", 5672),
            "127.0.0.1:5672"
        );
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://host"), "amqp://host");
    }
}
