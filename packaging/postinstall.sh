#!/bin/sh
set -e
chown helpdesk:helpdesk /var/lib/helpdesk
chgrp helpdesk /etc/helpdesk/helpdesk.toml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
echo "helpdesk: edit /etc/helpdesk/helpdesk.toml, then: systemctl enable --now helpdesk"
