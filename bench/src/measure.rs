//! Timing evaluations the way policy-server pays for them: for every request a
//! fresh instance of the compiled module (`wapc_init` runs again), then one
//! `validate` call, then the instance is dropped.
//!
//! Rows are measured round-robin (one evaluation of each row per round, the
//! first row of a round rotating), so background load on the machine and the
//! aftermath of the previous evaluation spread evenly over the rows that are
//! compared. The caller measures each request's rows together, apart from the
//! other requests', so that a 1.5 MiB evaluation does not weigh on the next
//! small one.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use policy_host::{AdmissionRequest, Evaluation, Evaluator, ReplaySession};
use serde_json::Value;

use crate::stats::{summarize, Summary};

/// One line of the table: a module evaluating one request with one settings object.
pub struct Row<'a> {
    pub request_label: String,
    pub module_label: String,
    pub settings_label: String,
    pub evaluator: &'a Evaluator,
    pub request: AdmissionRequest,
    pub settings: Value,
    pub session: Option<ReplaySession>,
}

/// What one evaluation of a row gives, checked once before timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub host_calls: usize,
    pub verdict: String,
}

pub struct Measured {
    pub outcome: Outcome,
    pub summary: Summary,
}

impl Row<'_> {
    fn evaluate(&self) -> Result<Evaluation> {
        let instance = self.evaluator.instantiate(self.session.clone())?;
        Ok(instance.validate(&self.request, &self.settings))
    }

    /// Runs the row once and refuses a run whose replayed look-ups went wrong:
    /// the timing of an evaluation that failed a look-up would measure nothing useful.
    pub fn check(&self) -> Result<Outcome> {
        let evaluation = self.evaluate()?;
        let name = self.name();
        if !evaluation.replay_problems.is_empty() {
            bail!("{name}: replay problems: {:?}", evaluation.replay_problems);
        }
        if evaluation.unused_exchanges != 0 {
            bail!(
                "{name}: {} replayed exchange(s) never asked for",
                evaluation.unused_exchanges
            );
        }
        let response = &evaluation.response;
        if response.status.as_ref().and_then(|s| s.code) == Some(500) {
            bail!("{name}: the module failed: {:?}", response.status);
        }
        let mut verdict = if response.allowed {
            "allowed".to_string()
        } else {
            format!(
                "denied {}",
                response
                    .status
                    .as_ref()
                    .and_then(|s| s.code)
                    .map_or_else(String::new, |c| c.to_string())
            )
            .trim_end()
            .to_string()
        };
        if response.patch.is_some() {
            verdict.push_str(", patch");
        }
        if response.warnings.as_ref().is_some_and(|w| !w.is_empty()) {
            verdict.push_str(", warnings");
        }
        Ok(Outcome {
            host_calls: evaluation.host_calls,
            verdict,
        })
    }

    pub fn name(&self) -> String {
        format!(
            "{} / {} / {}",
            self.request_label, self.module_label, self.settings_label
        )
    }
}

/// Times `iterations` evaluations of every row after `warmup` untimed rounds.
pub fn measure(rows: &[&Row<'_>], warmup: usize, iterations: usize) -> Result<Vec<Measured>> {
    let outcomes = rows
        .iter()
        .map(|row| row.check())
        .collect::<Result<Vec<_>>>()?;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(iterations); rows.len()];
    for round in 0..warmup + iterations {
        for offset in 0..rows.len() {
            let index = (round + offset) % rows.len();
            let row = rows[index];
            let session = row.session.clone();
            let start = Instant::now();
            let instance = row.evaluator.instantiate(session)?;
            let evaluation = instance.validate(&row.request, &row.settings);
            drop(instance);
            let elapsed = start.elapsed();
            if evaluation.host_calls != outcomes[index].host_calls {
                bail!(
                    "{}: {} host calls in round {round}, {} before",
                    row.name(),
                    evaluation.host_calls,
                    outcomes[index].host_calls
                );
            }
            if round >= warmup {
                samples[index].push(elapsed);
            }
        }
    }
    outcomes
        .into_iter()
        .zip(samples)
        .map(|(outcome, samples)| match summarize(&samples) {
            Some(summary) => Ok(Measured { outcome, summary }),
            None => bail!("no samples: --iterations must be at least 1"),
        })
        .collect()
}
