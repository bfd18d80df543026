#!/bin/sh
# The daemon's system user, created once.
set -e
if ! getent passwd helpdesk >/dev/null; then
	adduser --system --group --home /var/lib/helpdesk --no-create-home helpdesk >/dev/null
fi
