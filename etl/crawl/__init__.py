"""The crawl: from a workspace's listing to one recorded outcome per planned request.

``listing`` enumerates the evals past the 200-row cap, ``plan`` decides which panel units to
fetch, ``engine`` fetches them with a fixed worker pool (``pager`` for the image pages,
``tasks`` for task groups whose failures surface unwrapped) through ``client``, which sends
everything through ``http`` (the policy: ``retry`` decides, ``http`` loops). Every outcome is a
``ledger`` record. Nothing here writes a file: rows and raw bodies go to a ``Sink``.
"""
