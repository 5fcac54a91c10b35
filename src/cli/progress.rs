//! Apply's progress on stderr: on a terminal, a block of one line per change in flight with
//! its elapsed time, redrawn in place under the lines of finished work; elsewhere, plain lines.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amlops::apply::{Event, Progress};
use amlops::plan::{Action, Change};
use amlops::render::human_bytes;

use super::ui;

#[derive(Default)]
struct State {
    /// Finished lines not printed yet.
    log: Vec<String>,
    /// Changes in flight: address, what is happening, since when, bytes to upload.
    flying: Vec<(String, &'static str, Instant, u64)>,
    /// Lines of the in-flight block currently on screen.
    drawn: usize,
}

pub struct Printer {
    state: Arc<Mutex<State>>,
    live: bool,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Printer {
    pub fn new() -> Self {
        let live = std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = live.then(|| {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    draw(&mut state.lock().expect("progress lock"));
                }
            })
        });
        Self {
            state,
            live,
            stop,
            ticker,
        }
    }

    fn say(&self, line: String) {
        if self.live {
            let mut state = self.state.lock().expect("progress lock");
            state.log.push(line);
            draw(&mut state);
        } else {
            ui::status(&line);
        }
    }

    /// Clears the in-flight block and stops redrawing.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        if self.live {
            let mut state = self.state.lock().expect("progress lock");
            state.flying.clear();
            draw(&mut state);
        }
    }
}

fn draw(state: &mut State) {
    let mut stderr = anstream::stderr().lock();
    if state.drawn > 0 {
        let _ = write!(stderr, "\x1b[{}A\x1b[J", state.drawn);
    }
    for line in state.log.drain(..) {
        let _ = writeln!(stderr, "{line}");
    }
    for (address, doing, since, bytes) in &state.flying {
        let upload = if *bytes > 0 {
            format!(" ↑ {}", human_bytes(*bytes))
        } else {
            String::new()
        };
        let _ = writeln!(
            stderr,
            "  {} {address}: {doing}…{upload} {:.1}s",
            ui::paint(ui::MUTED, "›"),
            since.elapsed().as_secs_f64()
        );
    }
    state.drawn = state.flying.len();
    let _ = stderr.flush();
}

impl Progress for Printer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started { change } => {
                let bytes: u64 = change.uploads.iter().map(|u| u.bytes).sum();
                if self.live {
                    let mut state = self.state.lock().expect("progress lock");
                    state.flying.push((
                        change.address.clone(),
                        progressive(change.action),
                        Instant::now(),
                        bytes,
                    ));
                    draw(&mut state);
                } else {
                    ui::status(&format!(
                        "{}: {}...",
                        change.address,
                        progressive(change.action)
                    ));
                    for upload in &change.uploads {
                        ui::status(&format!(
                            "  ↑ uploading {} ({})",
                            upload.source,
                            human_bytes(upload.bytes)
                        ));
                    }
                }
            }
            Event::Finished { change, elapsed } => {
                self.land(change);
                self.say(format!(
                    "{}: {} [{}]",
                    change.address,
                    ui::paint(ui::GOOD, done(change.action)),
                    seconds(elapsed)
                ));
            }
            Event::Failed { change, error } => {
                self.land(change);
                self.say(format!(
                    "{}: {} {error}",
                    change.address,
                    ui::paint(ui::ERROR, "failed:")
                ));
            }
            Event::JobStatus {
                address,
                name,
                status,
                elapsed,
            } => {
                let style = match status {
                    "Completed" => ui::GOOD,
                    "Failed" | "Canceled" => ui::ERROR,
                    _ => ui::MUTED,
                };
                self.say(format!(
                    "{address} ({name}): {} [{}]",
                    ui::paint(style, status),
                    seconds(elapsed)
                ));
            }
        }
    }
}

impl Printer {
    fn land(&self, change: &Change) {
        if self.live {
            self.state
                .lock()
                .expect("progress lock")
                .flying
                .retain(|(a, ..)| a != &change.address);
        }
    }
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::NewVersion => "creating a new version",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Submit => "submitting",
        Action::Restore => "restoring",
        Action::Archive => "archiving",
        Action::Delete => "deleting",
        Action::NoOp | Action::Conflict => "skipping",
    }
}

fn done(action: Action) -> &'static str {
    match action {
        Action::Create | Action::NewVersion => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Submit => "submitted",
        Action::Restore => "restored",
        Action::Archive => "archived",
        Action::Delete => "deleted",
        Action::NoOp | Action::Conflict => "skipped",
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}
