"""The teacher client: chat completions from OpenAI or any OpenAI-compatible endpoint, and the run log.

- options: TeacherConfig and its command-line options (imports nothing heavy: --help stays fast)
- runlog: jobs, the durable run log every generating stage writes, failures files (no client imported)
- client: the HTTP client (limits, retries, refusals, truncation); limits: rolling rate-limit windows
- batch: the OpenAI Batch API; dispatch: send jobs (requests or batches) or print a dry run
Imports run one way: dispatch -> batch -> client -> limits and options; dispatch and batch -> runlog -> gpt4llm.files.
"""
