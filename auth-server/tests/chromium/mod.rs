//! Headless Chromium for the browser tests: `chromedriver` on a free loopback port, one Chromium
//! session through it (the `fantoccini` WebDriver client), and a handle that quits Chromium and
//! chromedriver when it is dropped, also when a test panics half-way.
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install -y chromium chromium-driver`;
//! `scripts/test` installs them when missing). `CHROMEDRIVER` and `CHROME` name other
//! executables. Without them a test fails, saying so: it is never skipped silently.
//!
//! [`screenshots`] writes a screenshot of the page at each of [`SCREENSHOT_WIDTHS`] to
//! `target/screenshots/` and checks that the page does not scroll sideways in the narrow one.

use std::net::TcpListener;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Longest wait for chromedriver to quit Chromium when the handle is dropped.
const QUIT_WAIT: Duration = Duration::from_secs(60);

/// The window widths (and least heights) of the screenshots: a laptop and a phone. Each page
/// is shot at both.
pub const SCREENSHOT_WIDTHS: [(u32, u32); 2] = [(1280, 900), (390, 844)];

/// The tallest window a screenshot grows to for a long page.
const SCREENSHOT_MAX_HEIGHT: u64 = 4000;

/// The workspace's root folder.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// `target/screenshots/` (under `CARGO_TARGET_DIR` when set), created.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write a screenshot of the page the browser shows as `<name>-<width>.png` in
/// [`screenshot_dir`], at each of [`SCREENSHOT_WIDTHS`]; the window grows taller (up to
/// 4000 px) when the page needs it, so the shot shows the whole page. In the narrow window the
/// page must not scroll sideways (`scrollWidth <= innerWidth`): the test fails otherwise. The
/// window gets back the size it had, so the rest of the test runs as before. Returns the paths,
/// widest first.
pub async fn screenshots(b: &Client, name: &str) -> Vec<PathBuf> {
    let (width, height) = b.get_window_size().await.unwrap();
    let narrowest = SCREENSHOT_WIDTHS.iter().map(|(w, _)| *w).min();
    let mut paths = Vec::new();
    for (w, h) in SCREENSHOT_WIDTHS {
        b.set_window_size(w, h).await.unwrap();
        let [inner_width, inner_height, scroll_width, scroll_height] = page_extent(b).await;
        assert_eq!(
            inner_width,
            u64::from(w),
            "{name}: the window is {w} px wide for the screenshot"
        );
        if Some(w) == narrowest {
            assert!(
                scroll_width <= inner_width,
                "{name} scrolls sideways in a {w} px wide window: {scroll_width} px wide"
            );
        }
        if scroll_height > inner_height {
            let taller = (u64::from(h) + scroll_height - inner_height).min(SCREENSHOT_MAX_HEIGHT);
            b.set_window_size(w, u32::try_from(taller).unwrap())
                .await
                .unwrap();
        }
        let png = b.screenshot().await.unwrap();
        let path = screenshot_dir().join(format!("{name}-{w}.png"));
        std::fs::write(&path, png).unwrap();
        paths.push(path);
    }
    b.set_window_size(
        u32::try_from(width).unwrap(),
        u32::try_from(height).unwrap(),
    )
    .await
    .unwrap();
    paths
}

/// `[innerWidth, innerHeight, scrollWidth, scrollHeight]` of the page the browser shows.
async fn page_extent(b: &Client) -> [u64; 4] {
    let v = b
        .execute(
            "const d = document.documentElement; \
             return [window.innerWidth, window.innerHeight, d.scrollWidth, d.scrollHeight]",
            vec![],
        )
        .await
        .unwrap();
    let n = |i: usize| v[i].as_u64().expect("a whole number of pixels");
    [n(0), n(1), n(2), n(3)]
}

/// With `UPDATE_SCREENSHOTS=1` in the environment, copy the screenshot at `shot` into
/// `docs/screenshots/` (the images the README shows), under the same file name.
pub fn publish(shot: &Path) {
    if std::env::var("UPDATE_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let docs = workspace_dir().join("docs").join("screenshots");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::copy(shot, docs.join(shot.file_name().expect("a file"))).unwrap();
}

/// A child process killed (and reaped) on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first of `names` found as a file on `PATH` (or the value of `env`, when set).
fn find_executable(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Fail the test because `what` (Chromium or chromedriver) is not installed, saying how to
/// install it: a browser test never skips silently.
fn missing(what: &str) -> ! {
    panic!(
        "{what} not found: the browser tests need Chromium and chromedriver. Install them \
         (Debian/Ubuntu: `apt-get install -y chromium chromium-driver`) or point the CHROME and \
         CHROMEDRIVER environment variables at them. These tests fail rather than skip."
    )
}

/// Start chromedriver on a free loopback port and wait until it answers; returns the process
/// and its URL.
async fn start_chromedriver() -> (Process, String) {
    let exe = find_executable("CHROMEDRIVER", &["chromedriver"])
        .unwrap_or_else(|| missing("chromedriver"));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&exe)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let mut process = Process(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    // A loaded machine can take many seconds to start it: wait up to two minutes, unless the
    // process has already exited.
    for _ in 0..1200 {
        if let Ok(res) = http.get(format!("{url}/status")).send().await
            && res.status().is_success()
        {
            return (process, url);
        }
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("chromedriver exited before answering: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url} within two minutes");
}

/// A headless Chromium session (900 × 900 window, browser console log kept for
/// `POST /session/{id}/se/log`; one cookie jar for every host, as in a real browser) and the
/// chromedriver it runs under. Derefs to the `fantoccini` [`Client`].
///
/// Dropping it ends the session, so chromedriver quits Chromium, and then kills chromedriver:
/// a test that panics leaves no browser running.
pub struct Chromium {
    client: Client,
    /// `{chromedriver}/session/{id}`: `DELETE` on it quits Chromium.
    session_url: String,
    _driver: Process,
}

impl Chromium {
    /// Start chromedriver and a headless Chromium session through it.
    pub async fn start() -> Self {
        let (driver, driver_url) = start_chromedriver().await;
        let chrome = find_executable(
            "CHROME",
            &["chromium", "chromium-browser", "google-chrome", "chrome"],
        )
        .unwrap_or_else(|| missing("Chromium"));
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-extensions",
                    "--no-first-run",
                    "--window-size=900,900",
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot start a Chromium session through chromedriver: {e}")
            });
        let id = client
            .session_id()
            .await
            .unwrap()
            .expect("a session was created");
        Self {
            client,
            session_url: format!("{driver_url}/session/{id}"),
            _driver: driver,
        }
    }
}

impl Deref for Chromium {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Chromium {
    /// Ends the session with a blocking `DELETE` (chromedriver quits Chromium and answers once
    /// it has), sent from a thread with a runtime of its own: the test's runtime may be the one
    /// unwinding, or blocked in this very call. Then `_driver` kills chromedriver.
    fn drop(&mut self) {
        let url = self.session_url.clone();
        let quit = std::thread::Builder::new()
            .name("quit-chromium".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    reqwest::Client::new()
                        .delete(url)
                        .timeout(QUIT_WAIT)
                        .send()
                        .await
                        .ok()
                })
            });
        if let Ok(quit) = quit {
            let _ = quit.join();
        }
    }
}

/// Type `username` and `password` into the sign-in form on the page and submit it.
pub async fn sign_in(b: &Client, username: &str, password: &str) {
    b.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    b.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    submit(b).await;
}

/// Click the page's first submit button.
pub async fn submit(b: &Client) {
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The element `css` selects, once the page has it; panics after `within`.
pub async fn wait_for(b: &Client, css: &str, within: Duration) -> fantoccini::elements::Element {
    b.wait()
        .at_most(within)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}
