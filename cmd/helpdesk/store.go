package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"helpdesk/core"
	"helpdesk/core/pglocal"
	"helpdesk/mailin"
	"helpdesk/templates"
)

// configFlag registers --config and returns where to read it from.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default $HELPDESK_CONFIG, else ./helpdesk.toml if present)")
}

func loadConfigFrom(path string) (*Config, error) {
	return LoadConfig(configPath(path))
}

// configPath is the config file to read: the one named, else
// $HELPDESK_CONFIG, else ./helpdesk.toml if it exists, else none.
func configPath(path string) string {
	if path == "" {
		path = os.Getenv("HELPDESK_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("helpdesk.toml"); err == nil {
			path = "helpdesk.toml"
		}
	}
	return path
}

// schemaMode says what opening a database does about its schema.
type schemaMode int

const (
	schemaCurrent schemaMode = iota // require it up to date: never change it under a running daemon
	schemaMigrate                   // bring it up to date
	schemaAsIs                      // take it as it is (migrate --dry-run looks at it)
)

// openCommand loads the config at path and opens its database, for a
// command other than the daemon. Without migrate it reads and writes what
// the daemon's schema has, and never changes a schema under a running daemon.
func openCommand(ctx context.Context, path string, stderr io.Writer, migrate bool) (*Config, *database, error) {
	mode := schemaCurrent
	if migrate {
		mode = schemaMigrate
	}
	return openCommandMode(ctx, path, stderr, mode)
}

func openCommandMode(ctx context.Context, path string, stderr io.Writer, mode schemaMode) (*Config, *database, error) {
	cfg, err := loadConfigFrom(path)
	if err != nil {
		return nil, nil, &exitError{78, err}
	}
	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogFormat), mode)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// database is an open store and, when no URL was configured, the private
// server behind it.
type database struct {
	*core.Store
	local *pglocal.Server
}

func (d *database) Close() {
	d.Store.Close()
	d.local.Stop()
}

// openDatabase connects to the configured database, or starts the private
// one under the data directory, then migrates and syncs the directory.
func openDatabase(ctx context.Context, cfg *Config, log *slog.Logger, mode schemaMode) (*database, error) {
	url := cfg.DatabaseURL
	var local *pglocal.Server
	if url == "" {
		var err error
		local, err = pglocal.Start(ctx, cfg.DataDir+"/postgres", log)
		if err != nil {
			return nil, fmt.Errorf("no database configured (set HELPDESK_DATABASE_URL or database_url), and the private one did not start: %w", err)
		}
		url = local.URL()
	}
	opts := cfg.StoreOptions()
	canned, err := templates.Canned(cfg.TemplatesDir)
	if err != nil {
		local.Stop()
		return nil, &exitError{78, fmt.Errorf("canned responses: %w", err)}
	}
	opts.Canned = canned
	st, err := core.Open(ctx, url, opts)
	if err != nil {
		local.Stop()
		return nil, err
	}
	db := &database{Store: st, local: local}
	switch mode {
	case schemaAsIs:
		return db, nil
	case schemaMigrate:
		applied, err := st.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		for _, m := range applied {
			log.Info("applied migration", "migration", m)
		}
	case schemaCurrent:
		// Commands that do not migrate say so rather than fail on a
		// missing table.
		if pending, err := st.PendingMigrations(ctx); err != nil || len(pending) > 0 {
			db.Close()
			if err == nil {
				err = &exitError{78, fmt.Errorf("the database schema is not up to date (%d migrations to run): run helpdesk migrate first", len(pending))}
			}
			return nil, err
		}
	}
	if cfg.Secret == "" {
		// Reply tokens must verify after a restart and across daemons, so a
		// generated secret lives in the database.
		if err := st.UseStoredSecret(ctx); err != nil {
			db.Close()
			return nil, &core.TemporaryError{Err: err}
		}
	}
	if mode != schemaMigrate {
		return db, nil
	}
	if err := st.SyncDirectory(ctx, cfg.Directory()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sync directory from config: %w", err)
	}
	return db, nil
}

// newIntake is the intake the config describes, on db.
func newIntake(cfg *Config, db *database, log *slog.Logger) *mailin.Intake {
	return &mailin.Intake{Store: db.Store, Desk: cfg.DeskAddresses(), Routes: cfg.IntakeRoutes(),
		TrustedAuthServID: cfg.AuthServID(), DKIM: cfg.DKIMCheck(), FormSenders: cfg.FormSenders, Spam: cfg.SpamCheck(), Limits: cfg.IntakeLimits(), Log: log}
}
