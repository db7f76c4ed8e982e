"""The guided session: patient, tests in order, trials, results and the session summary."""
