//! A loopback TCP proxy the test controls, in front of the PostgreSQL server of the tests:
//! [`DbProxy::stop`] cuts every connection and refuses new ones (the database is down),
//! [`DbProxy::resume`] listens again on the same port (the database is back), and
//! [`DbProxy::silence`] keeps every connection open and accepts new ones but never forwards a
//! byte again (a database that accepts connections and never answers).
#![allow(dead_code)]

/// The proxy: its loopback port and the task that accepts and forwards connections.
pub struct DbProxy {
    pub port: u16,
    upstream: String,
    silent: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DbProxy {
    /// Start a proxy on a free loopback port in front of the server of the database URL
    /// `db_url`.
    pub async fn start(db_url: &str) -> Self {
        let u = url::Url::parse(db_url).unwrap();
        let upstream = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432));
        let (silent, _) = tokio::sync::watch::channel(false);
        let mut proxy = Self {
            port: 0,
            upstream,
            silent,
            task: None,
        };
        proxy.resume().await;
        proxy
    }

    /// The database URL `db_url` with its host and port replaced by the proxy's.
    pub fn url(&self, db_url: &str) -> String {
        let mut url = url::Url::parse(db_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    /// Listen (again) on the proxy's port and forward every connection upstream.
    pub async fn resume(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))
            .unwrap();
        let listener = socket.listen(64).unwrap();
        self.port = listener.local_addr().unwrap().port();
        let (upstream, watch) = (self.upstream.clone(), self.silent.clone());
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                conns.spawn(forward(inbound, upstream.clone(), watch.subscribe()));
            }
        }));
    }

    /// Cut every connection and stop listening.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stop answering: every connection stays open, none gets a byte more.
    pub fn silence(&self) {
        self.silent.send_replace(true);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Forward `inbound` to `upstream` until `silent` turns true; from then on hold `inbound` open
/// and never answer.
async fn forward(
    mut inbound: tokio::net::TcpStream,
    upstream: String,
    mut silent: tokio::sync::watch::Receiver<bool>,
) {
    if !*silent.borrow() {
        let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
            return;
        };
        let silenced = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
            _ = silent.wait_for(|s| *s) => true,
        };
        if !silenced {
            return;
        }
    }
    let _held = inbound;
    std::future::pending::<()>().await;
}
