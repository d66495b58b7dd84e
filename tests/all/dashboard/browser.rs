//! A headless Chromium driven over WebDriver (`chromedriver`), for the
//! dashboard's tests. Both come from Debian (`chromium`, `chromium-driver`,
//! installed by scripts/setup.sh); missing, the test fails and says so.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::wait_until;

/// How long anything in the page may take to appear: generous, since two
/// cores serve the host, the browser and other tests at once.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Finds `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A browser session, its driver and its throwaway profile.
pub struct Browser {
    pub client: Client,
    /// The driver, in a process group of its own with the browser it starts,
    /// so that a failed test takes both down (see `Drop`).
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium
    /// 1280 px wide with no background networking.
    pub async fn start() -> Browser {
        let chromium = on_path("chromium").expect(
            "chromium is not installed: the dashboard tests need Debian's `chromium` and `chromium-driver` \
             (scripts/setup.sh installs them)",
        );
        let driver_bin = on_path("chromedriver").expect(
            "chromedriver is not installed: the dashboard tests need Debian's `chromium-driver` \
             (scripts/setup.sh installs it)",
        );
        let port = free_port();
        let driver = tokio::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = wait_until(
            PATIENCE,
            || {
                let req = http.get(format!("{url}/status"));
                async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
            },
            |ok| *ok,
        )
        .await;
        assert!(ready.is_some(), "chromedriver did not answer on {url} within {PATIENCE:?}");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "goog:chromeOptions": { "binary": chromium, "args": args } });
        let caps = caps.as_object().unwrap().clone();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session starts");
        Browser { client, driver, _profile: profile }
    }

    /// Opens the dashboard at `host` (with `hash`, such as `#/missions`).
    pub async fn open(&self, host: &str, hash: &str) {
        self.client.goto(&format!("{host}/ui{hash}")).await.unwrap();
    }

    /// Signs in with `token` on a freshly opened dashboard.
    pub async fn sign_in(&self, host: &str, token: &str) {
        self.open(host, "").await;
        self.element("#token").await.send_keys(token).await.unwrap();
        self.element("#signin").await.click().await.unwrap();
        self.element("nav a").await;
    }

    /// Goes to a page of the app (`#/...`) without reloading it.
    pub async fn go(&self, hash: &str) {
        self.client.execute("location.hash = arguments[0]", vec![json!(hash)]).await.unwrap();
    }

    /// The first element matching `css`, once it exists.
    pub async fn element(&self, css: &str) -> Element {
        let found = self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await;
        found.unwrap_or_else(|e| panic!("no `{css}` within {PATIENCE:?}: {e}"))
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    /// Waits until the text of the first `css` contains `text`.
    pub async fn wait_text(&self, css: &str, text: &str) {
        let mut last = String::new();
        let found = wait_until(
            PATIENCE,
            || async {
                match self.client.find(Locator::Css(css)).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            },
            |t: &String| {
                last = t.clone();
                t.contains(text)
            },
        )
        .await;
        assert!(found.is_some(), "`{css}` never read {text:?}; last: {last:?}");
    }

    /// Clicks the first `css`, once it exists; again if a live update
    /// replaced the element between finding and clicking it.
    pub async fn click(&self, css: &str) {
        let mut last = String::new();
        let clicked = wait_until(
            PATIENCE,
            || async { self.element(css).await.click().await.map_err(|e| e.to_string()) },
            |r: &Result<(), String>| match r {
                Ok(()) => true,
                Err(e) => {
                    last = e.clone();
                    false
                }
            },
        )
        .await;
        assert!(clicked.is_some(), "clicking `{css}` failed until {PATIENCE:?}: {last}");
    }

    /// Requests the API refused (status >= 400) since the page loaded, as the app records them.
    pub async fn refused(&self) -> Vec<Value> {
        let v = self.client.execute("return window.__mrRefused || []", vec![]).await.unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// Script errors, unhandled rejections and CSP violations since the page loaded.
    pub async fn errors(&self) -> Vec<Value> {
        let v = self.client.execute("return window.__mrErrors || []", vec![]).await.unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// Asserts the API refused nothing the page asked, and the page threw nothing.
    pub async fn assert_nothing_refused(&self) {
        let refused = self.refused().await;
        assert!(refused.is_empty(), "the dashboard made requests the API refused: {refused:?}");
        let errors = self.errors().await;
        assert!(errors.is_empty(), "the dashboard's scripts failed: {errors:?}");
    }

    /// Saves a screenshot as `NAME.png` in `$MR_SCREENSHOTS` (relative to the
    /// repository's root), when that is set: the README's pictures.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("MR_SCREENSHOTS") else { return };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        // From the top (a dialog is fixed, so it shows too), once fonts are in.
        let settle = "window.scrollTo(0, 0); return document.fonts.ready.then(() => true)";
        let _ = self.client.execute(settle, vec![]).await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Resizes the window (a phone is 390 px wide).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Ends the session (the driver stops the browser), then the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that failed never reached `close`: kill the driver's whole
    /// process group (the browser included), by the group id this test made.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
    }
}
