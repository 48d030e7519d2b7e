"""The standard sensors (Airflow keeps them in ``airflow.providers.standard.sensors``)."""
