"""The partner portal's pages (``/portal/``). Sign-in, two-factor and the front door are core's (``core.signin``)."""
