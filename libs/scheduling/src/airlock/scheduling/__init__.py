"""Scheduling decisions shared by the scheduler and the Execution API (control zone)."""
