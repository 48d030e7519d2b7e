"""The Web API: what people, the CLI and outside systems call (DAGs, runs, task instances,
assets, variables, connections, pools, users and tokens), answered from the database under the
caller's user token and roles. ``airlock api --apps web`` serves :func:`~airlock.web.app.create_app`.
"""
