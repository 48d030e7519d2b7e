"""The Execution API: workers long-poll it for workloads, and the tasks they run report their
state, heartbeats, XComs and logs and read variables and connections through it, under a worker
token or a per-task token. ``airlock api --apps execution`` serves
:func:`~airlock.execution.app.create_app`.
"""
