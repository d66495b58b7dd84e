//! Wires a host together: Redis (given or embedded), the plugin runtime, the
//! worker and the API. The binary and the tests both start hosts through [`start`].
//! The API's HTTP server (timeouts, connection cap) is in [`connections`].

pub mod connections;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::embedded_redis::{Persistence, RedisServer};
use crate::metrics::Metrics;
use crate::registry::{Activation, PluginRegistry, PluginStore, follow_activations, watch_dir};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Queue, TokenStore};
use crate::worker::{Worker, new_worker_id};

/// A running host.
#[derive(Debug)]
pub struct Host {
    addr: SocketAddr,
    redis_url: String,
    worker_id: Option<String>,
    /// Cancelled to begin a graceful stop.
    shutdown: CancellationToken,
    /// API and worker; they end after `shutdown` is cancelled.
    tasks: Vec<JoinHandle<()>>,
    /// The embedded Redis, if this host started one; stopped last.
    embedded: Option<RedisServer>,
    /// Kept so the epoch ticker runs as long as the host.
    runtime: Arc<Runtime>,
    /// The loaded plugins.
    registry: Arc<PluginRegistry>,
    /// What `/metrics` exposes (shared with the worker and the API).
    metrics: Arc<Metrics>,
    /// The admin token of an embedded default (kept in its data directory).
    admin_token: Option<AdminToken>,
    /// The Redis URL without its password, for messages.
    redis_display: String,
}

/// The embedded default's admin token and where it is kept.
#[derive(Debug)]
struct AdminToken {
    /// The token itself.
    token: String,
    /// `data_dir/admin-token`, owner-only.
    path: std::path::PathBuf,
    /// Made by this start (so shown once), rather than read back.
    created: bool,
}

impl Host {
    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The Redis this host uses (with its password, if it has one).
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }
    /// The Redis this host uses, fit for logs: without a password.
    pub fn redis_display(&self) -> &str {
        &self.redis_display
    }
    /// This host's worker id (`None` with concurrency 0).
    pub fn worker_id(&self) -> Option<&str> {
        self.worker_id.as_deref()
    }
    /// The plugin runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
    /// The loaded plugins.
    pub fn registry(&self) -> &Arc<PluginRegistry> {
        &self.registry
    }
    /// The host's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
    /// The admin token generated for the embedded default, if this host is one.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_ref().map(|t| t.token.as_str())
    }
    /// The file that keeps the embedded default's admin token.
    pub fn admin_token_path(&self) -> Option<&std::path::Path> {
        self.admin_token.as_ref().map(|t| t.path.as_path())
    }
    /// Whether this start made the admin token (the only time it is shown).
    pub fn admin_token_created(&self) -> bool {
        self.admin_token.as_ref().is_some_and(|t| t.created)
    }
    /// A token that stops the host when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops claiming, lets running attempts finish, drains the API, stops Redis if embedded.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the host has stopped (after its shutdown token is cancelled).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        for t in self.tasks.drain(..) {
            t.await.context("a host task panicked")?;
        }
        if let Some(redis) = self.embedded.take() {
            redis.shutdown().await?;
        }
        Ok(())
    }
}

/// Connects with automatic reconnection.
pub async fn connect(client: &redis::Client, response_timeout: Duration) -> anyhow::Result<ConnectionManager> {
    let cfg = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client.clone(), cfg)
        .await
        .with_context(|| format!("connecting to Redis at {}", client.get_connection_info().addr()))
}

/// Refuses a Redis that may evict keys: an evicted queue key is a lost mission.
async fn check_eviction_policy(conn: &mut ConnectionManager) -> anyhow::Result<()> {
    let reply: redis::RedisResult<Vec<String>> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(conn).await;
    match reply {
        Ok(kv) => match kv.get(1).map(String::as_str) {
            Some("noeviction") | None => Ok(()),
            Some(policy) => bail!(
                "Redis has maxmemory-policy `{policy}`, which may evict mission keys and lose missions. \
                 Set it to `noeviction` (CONFIG SET maxmemory-policy noeviction, or in redis.conf)"
            ),
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read maxmemory-policy (CONFIG disabled?); make sure it is noeviction");
            Ok(())
        }
    }
}

/// Starts a host: Redis, plugins, worker and API. Returns once it is serving.
pub async fn start(config: Config) -> anyhow::Result<Host> {
    let (redis_url, redis_display, embedded) = match &config.redis_url {
        Some(url) => (url.clone(), without_password(url), None),
        None => {
            // Tokens, the Redis password and every tenant's payloads live here.
            crate::embedded_redis::private_dir(&config.data_dir)?;
            let server = RedisServer::start(&config.data_dir.join("redis"), Persistence::AppendOnly).await?;
            tracing::info!(url = %server.display_url(), dir = %config.data_dir.display(), "started embedded redis-server");
            (server.url(), server.display_url(), Some(server))
        }
    };
    config.auth.validate()?;
    config.quotas.validate()?;
    config.flow.validate()?;
    config.schedules.validate().map_err(anyhow::Error::msg)?;
    let mut tokens = config.auth.tokens.clone();
    let admin_token = match &embedded {
        Some(_) => {
            let token = admin_token(&config.data_dir)?;
            tokens.push(crate::auth::ConfiguredToken {
                name: "admin".into(),
                tenant: crate::auth::DEFAULT_TENANT.into(),
                scopes: vec![crate::auth::Scope::Admin],
                sha256: crate::auth::hash_token(&token.token),
            });
            Some(token)
        }
        None => None,
    };
    if tokens.is_empty() && !config.listen.ip().is_loopback() {
        bail!(
            "refusing to serve on {} with no API tokens: anyone who can reach it could run code. \
             Configure [[auth.tokens]] or listen on a loopback address",
            config.listen
        );
    }
    let client = redis::Client::open(redis_url.as_str()).context("parsing the Redis URL")?;
    let mut conn = connect(&client, Duration::from_secs(5)).await?;
    check_eviction_policy(&mut conn).await?;

    let metrics = Arc::new(Metrics::new());
    let runtime = Arc::new(Runtime::new(&RuntimeConfig {
        max_instances: config.concurrency as u32 + 16,
        pooling: config.pooling,
        limits: config.limits.clone(),
        cache_dir: Some(config.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("cache"))),
        outbound_http: config.outbound_http.clone(),
        tuning: Default::default(),
    })?);
    let observed = metrics.clone();
    runtime.on_instantiate(move |took| observed.instantiate.observe(took));
    let observed = metrics.clone();
    runtime.on_http_request(move |seen| observed.http_request(seen));
    let worker_id = (config.concurrency > 0).then(new_worker_id);
    let source = worker_id.clone().unwrap_or_else(new_worker_id);
    let mut settings = config.queue_settings();
    settings.secrets_key = crate::store::SecretKey::load(
        config.secrets.key_file.as_deref(),
        std::env::var(crate::store::secrets::SECRETS_KEY_ENV).ok(),
        embedded.is_some().then(|| config.data_dir.join("secrets.key")).as_deref(),
    )
    .context("loading the secrets key")?;
    let queue = Queue::new(conn, &config.key_prefix, settings, &source);
    let registry = Arc::new(PluginRegistry::new(runtime.clone(), PluginStore::new(queue.clone())));
    if let Some(dir) = &config.plugins_dir {
        registry.publish_dir(dir, Activation::IfUnset).await?;
    }
    registry.refresh().await?;
    let moved = queue.migrate_ready().await?;
    if moved > 0 {
        tracing::info!(missions = moved, "moved ready missions into the per-tenant, per-type queues");
    }
    for (t, limits) in &config.flow.types {
        if queue.type_flow(t).await?.limits != *limits {
            queue.set_limits(t, limits, "config").await?;
        }
    }

    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(follow_activations(registry.clone(), client.clone(), shutdown.clone())));
    if let (Some(dir), true) = (&config.plugins_dir, config.watch_plugins) {
        tasks.push(tokio::spawn(watch_dir(registry.clone(), dir.clone(), shutdown.clone())));
    }
    let id = worker_id.clone().unwrap_or_else(|| source.clone());
    let blocking = connect(&client, Duration::from_secs(10)).await?;
    tasks.push(tokio::spawn(metrics.clone().upkeep(shutdown.clone())));
    let worker = Worker::new(
        id,
        queue.clone(),
        registry.clone(),
        config.concurrency,
        config.lease,
        config.shutdown_grace,
        metrics.clone(),
    )
    .with_schedules(crate::worker::ScheduleRunner {
        config: config.schedules.clone(),
        defaults: Arc::new(config.mission_defaults.clone()),
    });
    let stop = shutdown.clone();
    let pubsub = client.clone();
    tasks.push(tokio::spawn(async move { worker.run(blocking, pubsub, stop).await }));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API to {}", config.listen))?;
    let addr = listener.local_addr()?;
    let auth = match tokens.is_empty() {
        true => crate::auth::Authenticator::open(),
        false => crate::auth::Authenticator::enforcing(&tokens, TokenStore::new(queue.conn(), queue.keys())),
    };
    let app = api::router(AppState {
        auth: Arc::new(auth),
        queue,
        client: client.clone(),
        registry: registry.clone(),
        defaults: Arc::new(config.mission_defaults.clone()),
        worker_id: worker_id.clone(),
        max_body_bytes: config.max_body_bytes,
        metrics: metrics.clone(),
        schedules: Arc::new(config.schedules.clone()),
    })
    // The dashboard's files need no token: the page holds no data, and it calls the API like any client.
    .merge(crate::ui::router());
    tasks.push(tokio::spawn(connections::serve(listener, app, config.http.clone(), shutdown.clone())));
    Ok(Host {
        addr,
        redis_url,
        worker_id,
        shutdown,
        tasks,
        embedded,
        runtime,
        registry,
        metrics,
        admin_token,
        redis_display,
    })
}

/// `url` with its password (if any) masked, for logs and messages.
fn without_password(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() + 3 => {
            match rest[..at - scheme.len() - 3].split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{}", &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The embedded default's admin token: read from `data_dir/admin-token`, or
/// generated there (owner-only) on first start.
fn admin_token(data_dir: &std::path::Path) -> anyhow::Result<AdminToken> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join("admin-token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(AdminToken { token: t.trim().to_owned(), path, created: false }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let token = crate::auth::generate_token();
    std::fs::create_dir_all(data_dir)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{token}")?;
    Ok(AdminToken { token, path, created: true })
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_kept_out_of_displayed_urls() {
        use super::without_password as w;
        assert_eq!(w("redis://:s3cret@127.0.0.1:6379"), "redis://:***@127.0.0.1:6379");
        assert_eq!(w("redis://app:s3cret@h:1/0"), "redis://app:***@h:1/0");
        assert_eq!(w("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
