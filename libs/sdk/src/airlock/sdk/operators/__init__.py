"""The standard operators (Airflow keeps them in its ``standard`` provider)."""
