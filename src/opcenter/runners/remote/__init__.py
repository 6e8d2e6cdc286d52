"""Running attempts on Celery workers (OPCENTER_EXECUTOR=celery): the scheduler side
(`executor.CeleryExecutor`), the worker side (`worker.serve_worker`), what travels between them
(`wire`: the spec as JSON) and the rows they share in the store (`rows`: `worker_attempt`,
`log_chunk`, `worker_process`). The broker only carries "run this attempt"; every fact (claimed by
whom, heartbeat, stop requested, how it ended, the log) lives in the store, so any scheduler can
take over and any API process can read a log."""
