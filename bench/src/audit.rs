//! Audit store throughput: durable appends per second.

pub fn run(single: usize, grouped: usize, concurrency: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let s = rt.block_on(tobira_audit::bench::appends_per_second_single(dir.path(), single))?;
    let dir2 = tempfile::tempdir()?;
    let g = rt.block_on(tobira_audit::bench::appends_per_second_grouped(dir2.path(), grouped, concurrency))?;
    println!(
        "audit: durable appends, one writer awaiting each commit : {s:>10.0} /s  ({single} events; goal ≥ 3,000/s)"
    );
    println!(
        "audit: durable appends, {concurrency} concurrent writers grouped : {g:>10.0} /s  ({grouped} events; goal ≥ 50,000/s)"
    );
    Ok(())
}
