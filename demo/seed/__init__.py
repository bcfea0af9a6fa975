"""The demo broker: a deterministic generator (``generator``) and the seeder that loads it through the services
(``seed``). ``manage.py seed_demo`` is the entry point; the same seed, sizes and day give the same broker."""
