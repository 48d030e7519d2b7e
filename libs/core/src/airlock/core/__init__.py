"""What the control zone's services share beyond the database: settings, JWT issue and check,
key files, password hashing and the HTTP layer of the three APIs (problem details, auth guards,
the app factory they start from). The SDK, worker and DAG processor never import its signing code.
"""
