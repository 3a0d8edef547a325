//! Crash safety: the real `acdp` binary is killed with SIGKILL in the middle of `acdp pipeline`
//! (including its export) and of `acdp train`, at seeded random moments and just after progress
//! markers (a stage line on stderr, a checkpoint folder appearing). After every kill the earlier
//! output must be intact: each file under a final name is whole (it equals the same file of one
//! complete run and parses), a folder with `manifest.json` holds one complete dataset, every
//! checkpoint folder loads; and a rerun finishes, training resuming from its last checkpoint
//! instead of step 0.
//!
//! `ACDP_CRASH_TRIES` raises the number of kills per scenario (default 6).

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};

#[path = "support/tiny_model.rs"]
mod tiny_model;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use acdp_model::SplitMix64;
use serde_json::Value;

const ACDP: &str = env!("CARGO_BIN_EXE_acdp");

/// How long to wait for a marker before declaring the run hung: a guard, not an assertion.
const HANG_GUARD: Duration = Duration::from_secs(300);

fn tries() -> usize {
    std::env::var("ACDP_CRASH_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// Every file under `dir` by relative path, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

fn is_hidden_leftover(relative: &str) -> bool {
    Path::new(relative)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// A started `acdp` whose stderr lines arrive on a channel (and are kept for messages).
struct Run {
    child: Child,
    lines: Receiver<String>,
    stderr: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Run {
    fn start(mut command: Command) -> Run {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start acdp");
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines: rx,
            stderr: Vec::new(),
            stdout: Some(stdout),
        }
    }

    /// Waits for a stderr line containing `marker`; false when the process ended first.
    fn wait_for_line(&mut self, marker: &str) -> bool {
        let deadline = Instant::now() + HANG_GUARD;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let found = line.contains(marker);
                    self.stderr.push(line);
                    if found {
                        return true;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        panic!("no `{marker}` on stderr within {HANG_GUARD:?}");
    }

    /// Waits until `ready` holds (polled); false when the process ended first.
    fn wait_until(&mut self, ready: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + HANG_GUARD;
        while Instant::now() < deadline {
            if ready() {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the awaited state did not come within {HANG_GUARD:?}");
    }

    /// SIGKILL after `delay` unless it ended before; true when it was killed.
    fn kill_after(mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.assert_success(status);
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(status) = self.child.try_wait().unwrap() {
            self.assert_success(status);
            return false;
        }
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
        true
    }

    /// Waits for the end and returns its stdout; panics with its stderr unless it succeeded.
    fn finish(mut self) -> String {
        let status = self.child.wait().unwrap();
        self.assert_success(status);
        self.stdout.take().unwrap().join().unwrap()
    }

    fn assert_success(&mut self, status: std::process::ExitStatus) {
        if !status.success() {
            self.stderr.extend(self.lines.try_iter());
            panic!("acdp failed ({status}):\n{}", self.stderr.join("\n"));
        }
    }
}

fn random_delay(rng: &mut SplitMix64, max: Duration) -> Duration {
    Duration::from_micros(rng.next_u64() % (max.as_micros() as u64).max(1))
}

// ---------------------------------------------------------------------------------------------
// pipeline and export

/// `acdp pipeline` over the order package of the shop, English only: the whole pipeline in
/// about two seconds of a debug build.
fn pipeline(repo: &Path, out: &Path, seed: u64) -> Run {
    let mut command = Command::new(ACDP);
    command
        .args(["pipeline", "--seed", &seed.to_string(), "--languages", "en"])
        .args(["--include", "src/main/java/com/acme/shop/order/**", "--out"])
        .arg(out)
        .arg(repo);
    Run::start(command)
}

/// Every file of the folder parses as what its name says.
fn assert_parses(files: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in files {
        let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.ends_with(".jsonl") {
            for (n, line) in text.lines().enumerate() {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("{name} line {}: {e}", n + 1));
            }
        } else if name.ends_with(".json") {
            serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn killing_the_pipeline_leaves_whole_datasets_and_a_rerun_completes() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);

    // The two complete datasets a killed run may leave: seed 1's and seed 2's. The first
    // stays in `out` as the earlier output the kills must not damage.
    let out = work.path().join("out");
    let mut first = pipeline(&repo, &out, 1);
    let started = Instant::now();
    assert!(first.wait_for_line("  dataset "), "the run ended early");
    let before_export = started.elapsed();
    let export_started = Instant::now();
    first.finish();
    let export = export_started.elapsed();
    pipeline(&repo, &work.path().join("ref2"), 2).finish();
    let complete = [finals(&out), snapshot(&work.path().join("ref2"))];
    assert_parses(&complete[0]);
    assert_eq!(
        complete[0].keys().collect::<Vec<_>>(),
        complete[1].keys().collect::<Vec<_>>()
    );
    assert!(
        complete[0]["samples.jsonl"] != complete[1]["samples.jsonl"]
            && complete[0]["train.jsonl"] != complete[1]["train.jsonl"],
        "the seeds give different datasets, so a mix of the two would show"
    );

    let mut rng = SplitMix64::new(8);
    let (mut killed, mut untouched, mut replaced, mut without_manifest) = (0, 0, 0, 0);
    for attempt in 0..tries() {
        let seed = 2 - (attempt as u64 % 2);
        let new = &complete[seed as usize - 1];
        let before = finals(&out);
        let mut run = pipeline(&repo, &out, seed);
        // Odd attempts: anywhere before the export. Even ones: in the export, which starts
        // when the dataset stage prints its result.
        let delay = if attempt % 2 == 1 {
            random_delay(&mut rng, before_export)
        } else {
            assert!(run.wait_for_line("  dataset "), "the run ended early");
            random_delay(&mut rng, export)
        };
        if !run.kill_after(delay) {
            assert_eq!(
                differing(&finals(&out), new),
                [] as [String; 0],
                "a finished run"
            );
            continue;
        }
        killed += 1;

        let after = finals(&out);
        for (name, bytes) in &after {
            assert!(
                complete.iter().any(|c| c.get(name) == Some(bytes)),
                "attempt {attempt}: {name} is not the file of a complete run (torn)"
            );
        }
        assert_parses(&after);
        if after.contains_key("manifest.json") {
            let whole: Vec<Vec<String>> = complete.iter().map(|c| differing(&after, c)).collect();
            assert!(
                whole.iter().any(Vec::is_empty),
                "attempt {attempt}: manifest.json present but the files are not one dataset: \
                 {whole:?} differ from seed 1's and seed 2's"
            );
        }
        if after == before {
            untouched += 1;
        } else if after.contains_key("manifest.json") {
            replaced += 1;
        } else {
            // Killed between removing the old manifest and renaming the new one into place.
            without_manifest += 1;
        }
    }
    eprintln!(
        "pipeline: {killed} kills of {} tries: {untouched} left the earlier dataset, \
         {replaced} the new one, {without_manifest} killed while renaming (no manifest); \
         {before_export:?} to the export, {export:?} exporting",
        tries()
    );
    assert!(killed > 0, "no try was killed before it ended");

    // A rerun completes, equals a clean run and removes what the killed runs staged.
    pipeline(&repo, &out, 2).finish();
    assert_eq!(differing(&snapshot(&out), &complete[1]), [] as [String; 0]);
}

/// Names of the files that are not in both folders with the same bytes.
fn differing(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|name| a.get(*name) != b.get(*name))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The files under final names (staged leftovers are hidden and left out).
fn finals(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter(|(name, _)| !is_hidden_leftover(name))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// training

/// Four chat samples over the tiny tokenizer's words.
fn write_train_data(dir: &Path) {
    let qa = [
        (
            "what does the order service do",
            "it locks the stock and grants points after payment",
        ),
        (
            "who refunds a return",
            "the return service refunds the member",
        ),
        (
            "when does a coupon expire",
            "a coupon expires after payment",
        ),
        ("how many points", "the member grants points after payment"),
    ];
    let lines: Vec<String> = qa
        .iter()
        .enumerate()
        .map(|(i, (q, a))| {
            serde_json::json!({"sample_id": format!("s{i}"), "messages": [
                {"role": "system", "content": "you answer about the shop"},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]})
            .to_string()
        })
        .collect();
    std::fs::write(dir.join("train.jsonl"), lines.join("\n") + "\n").unwrap();
}

const SAMPLES: usize = 4;

/// Enough optimizer steps (a checkpoint after each) for every try to find a few more.
fn epochs() -> usize {
    (3 * tries() + 4).div_ceil(SAMPLES)
}

fn train(model: &Path, data: &Path, out: &Path) -> Run {
    let mut command = Command::new(ACDP);
    command
        .args(["train", "--resume", "--accum", "1", "--warmup", "2"])
        .args(["--checkpoint-every", "1", "--epochs", &epochs().to_string()])
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    Run::start(command)
}

/// Checkpoint folders by step, with their inode (a rewritten folder gets a new one).
fn checkpoints(out: &Path) -> BTreeMap<usize, u64> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(out) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let step = e
                .file_name()
                .to_str()?
                .strip_prefix("checkpoint-")?
                .parse()
                .ok()?;
            Some((step, e.metadata().ok()?.ino()))
        })
        .collect()
}

/// A checkpoint folder holds all four files, each whole.
fn assert_checkpoint_whole(out: &Path, step: usize) {
    let dir = out.join(format!("checkpoint-{step:06}"));
    let json = |file: &str| -> Value {
        let bytes = std::fs::read(dir.join(file))
            .unwrap_or_else(|e| panic!("{}/{file}: {e} (a half-saved checkpoint)", dir.display()));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{}/{file}: {e} (a torn file)", dir.display()))
    };
    let state = json("trainer_state.json");
    assert_eq!(state["step"], step);
    assert_eq!(state["samples_seen"], step);
    assert_eq!(json("adapter_config.json")["peft_type"], "LORA");
    for file in ["adapter_model.safetensors", "optimizer.safetensors"] {
        let tensors = candle_core::safetensors::load(dir.join(file), &candle_core::Device::Cpu)
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()));
        assert!(!tensors.is_empty(), "{}/{file} is empty", dir.display());
    }
}

fn adapter_tensors(out: &Path) -> BTreeMap<String, Vec<f32>> {
    candle_core::safetensors::load(
        out.join("adapter_model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
    .into_iter()
    .map(|(name, t)| (name, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
    .collect()
}

#[test]
fn killing_training_keeps_checkpoints_whole_and_resume_continues_from_the_last() {
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    tiny_model::write_tiny_model(&model, true, 7);
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_train_data(&data);
    let total = epochs() * SAMPLES;

    // The uninterrupted run the interrupted ones must end equal to.
    let started = Instant::now();
    let reference: Value =
        serde_json::from_str(&train(&model, &data, &work.path().join("ref")).finish()).unwrap();
    let full_run = started.elapsed();
    let step = full_run / total as u32;
    assert_eq!(reference["steps"], total);
    assert_eq!(reference["resumed_from_step"], Value::Null);

    let out = work.path().join("out");
    let mut rng = SplitMix64::new(9);
    let mut killed = 0;
    for attempt in 0..tries() {
        let before = checkpoints(&out);
        let mut run = train(&model, &data, &out);
        // Once the next checkpoint folder has appeared: at once (even tries; a checkpoint
        // written in place would be half-saved now) or within the next few steps (odd ones).
        let known = before.len();
        let watched = out.clone();
        if !run.wait_until(move || checkpoints(&watched).len() > known) {
            run.finish();
            break;
        }
        let delay = if attempt % 2 == 0 {
            random_delay(&mut rng, Duration::from_millis(3))
        } else {
            random_delay(&mut rng, step * 3)
        };
        if !run.kill_after(delay) {
            break;
        }
        killed += 1;
        let after = checkpoints(&out);
        for step in after.keys() {
            assert_checkpoint_whole(&out, *step);
        }
        // A resumed run adds checkpoints after the last one; it never writes the earlier ones
        // again (as a run restarted from step 0 would).
        for (step, inode) in &before {
            assert_eq!(
                after.get(step),
                Some(inode),
                "attempt {attempt}: checkpoint {step} was rewritten or removed"
            );
        }
        assert!(
            !out.join("adapter_model.safetensors").exists() || after.keys().last() == Some(&total),
            "the final adapter appears only after the last step"
        );
    }
    assert!(killed > 0, "no try was killed before it ended");

    let last = checkpoints(&out).keys().last().copied();
    assert!(
        last.is_some_and(|s| s > 0),
        "no checkpoint was written before the kills"
    );
    let report: Value = serde_json::from_str(&train(&model, &data, &out).finish()).unwrap();
    eprintln!(
        "train: {killed} kills of {} tries, resumed at step {last:?} of {total}; \
         uninterrupted run {full_run:?}",
        tries()
    );
    assert_eq!(report["resumed_from_step"], serde_json::json!(last));
    assert_eq!(report["steps"], total);
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + total,
        "one loss line per step, none lost"
    );
    // Resuming restores the adapter, the optimizer moments, the data position and the dropout
    // stream: the adapter equals the uninterrupted run's.
    let (resumed, uninterrupted) = (
        adapter_tensors(&out),
        adapter_tensors(&work.path().join("ref")),
    );
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        uninterrupted.keys().collect::<Vec<_>>()
    );
    for (name, values) in &resumed {
        let diff = values
            .iter()
            .zip(&uninterrupted[name])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "{name} differs from the uninterrupted run by {diff}"
        );
    }
}
