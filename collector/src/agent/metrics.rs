//! What the agent reports on `/metrics`.

use crate::source::Source;

/// Describes the agent's metrics to the installed recorder.
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "skein_agent_lines_read_total",
        "Log file lines read by the agent"
    );
    describe_counter!(
        "skein_agent_bytes_read_total",
        Unit::Bytes,
        "Log file bytes read by the agent"
    );
    describe_counter!(
        "skein_agent_batches_shipped_total",
        "Batches the server acknowledged"
    );
    describe_counter!(
        "skein_agent_batches_failed_total",
        "Batch deliveries that failed and were retried"
    );
    describe_counter!(
        "skein_agent_records_shipped_total",
        "Records the server accepted from this agent"
    );
    describe_counter!(
        "skein_agent_lines_rejected_total",
        "Records the server rejected as invalid"
    );
    describe_gauge!(
        "skein_agent_spool_bytes",
        Unit::Bytes,
        "Bytes of batches spooled and not yet acknowledged"
    );
    describe_gauge!(
        "skein_agent_spool_batches",
        "Batches spooled and not yet acknowledged"
    );
    describe_gauge!("skein_agent_sources", "Files followed");
    describe_counter!(
        "skein_agent_losses_total",
        "Times written log lines could not be read, by kind: unopened (a rotated file \
         deleted before the agent could open it; one per file), truncated (a file \
         truncated with bytes not read yet), resume (the checkpointed file gone or \
         truncated while the agent was down)"
    );
    describe_counter!(
        "skein_agent_bytes_lost_total",
        Unit::Bytes,
        "Bytes written and never read: exact for truncations, estimated from the file \
         before for files never opened"
    );
    describe_histogram!(
        "skein_agent_read_delay_seconds",
        Unit::Seconds,
        "Per read, how long its oldest line waited in the file (from the time the runtime wrote on it; json-file and CRI only)"
    );
    describe_histogram!(
        "skein_agent_batch_age_seconds",
        Unit::Seconds,
        "Per batch, from its first read to its cut"
    );
    describe_histogram!(
        "skein_agent_batch_ack_seconds",
        Unit::Seconds,
        "Per batch, from its cut to the server's acknowledgement (waiting behind the batch in flight, retries included)"
    );
    describe_histogram!(
        "skein_agent_post_seconds",
        Unit::Seconds,
        "Per acknowledged request, from sending it to the server's acknowledgement"
    );
    describe_gauge!(
        "skein_agent_file_lag_bytes",
        Unit::Bytes,
        "Bytes written to a followed file and not read yet"
    );
    describe_counter!(
        "skein_agent_redactions_total",
        "Secrets replaced by --redact rules before shipping, per rule"
    );
}

/// The `source` label of a file's lag: the container name (what people search by),
/// or the path of a plain file.
pub(super) fn lag_label(source: &Source) -> String {
    let spec = source.spec();
    if spec.meta.container_id == spec.path.display().to_string() {
        spec.key.clone()
    } else {
        spec.meta.container_name().to_string()
    }
}
