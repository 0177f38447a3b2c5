"""Batch jobs: one prompt per row of a file, answered by the engine, one result row each.

inputs.py reads the rows (JSONL or CSV) and fills the prompt template; results.py appends the results
durably and reads them back to resume; progress.py counts and estimates; runner.py feeds the rows to
the engine's parallel sequences. `hearth batch` and the GUI's Batch page both drive these.
"""
