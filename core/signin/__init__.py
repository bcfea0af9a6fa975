"""Sign-in for everyone, staff and partners: one login page with django-axes' lockout, TOTP two-factor (django-otp;
required for staff, optional for partners), password reset that never skips the code step, logout and the site's
front door. README "Sign-in and two-factor" has the decisions."""
