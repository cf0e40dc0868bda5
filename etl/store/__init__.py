"""Storage: staging, the raw archive, the publish merge, atomic snapshots, the run lock.

``writer`` stages a run's Arrow batches, ``archive`` keeps every raw response, ``merge`` builds
a new snapshot from the previous one plus the staged units, ``publish`` runs the commit
sequence (``crashpoints`` names its steps) and recovery, ``runlock`` keeps runs apart. Storage
knows tables and units, never how a panel is normalized or how views are written.
"""
