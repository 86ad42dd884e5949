"""The push-hook secret the controller server under test is configured with."""

HOOK_SECRET = "s3cr3t-for-tests"
