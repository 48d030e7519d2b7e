"""The Internal API: how the DAG processor, which holds no database connection, lists its
bundles' known files, stores the DAGs it parsed, and reads variables and connections, under a
service token scoped to its role and bundles. ``airlock api --apps internal`` serves
:func:`~airlock.internal.app.create_app`.
"""
