"""What each Lambda step does (``release_check``, ``run_steps``, ``operations``) with its typed messages,
and the local refresh loop of the CLI and the demo (``checker``, ``refresh``, ``local``)."""
