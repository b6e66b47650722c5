"""A deterministic simulator for the PBFT replica: one seed fixes everything.

* :mod:`consensus.sim.fakecrypto` -- cheap HMAC signatures (a byzantine replica can only sign as itself).
* :mod:`consensus.sim.network` -- seeded delays, reordering, duplication, loss and partitions.
* :mod:`consensus.sim.cluster` -- n validators with their "disk" (persist records) and "block store",
  crash/restart, and the harness used by the scenario tests.
* :mod:`consensus.sim.byzantine` -- equivocating primary, conflicting voter, replayer, garbage sender.
* :mod:`consensus.sim.checker` -- agreement, certificates, delivery order, no equivocation.
* :mod:`consensus.sim.runner` -- random fault schedules from a seed; progress after healing.
* :mod:`consensus.sim.script` -- scripted scenarios, one message at a time, and their transcript
  (the golden tests, docs/TESTING.md).
"""
