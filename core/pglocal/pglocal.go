// Package pglocal runs a private PostgreSQL server from the machine's server
// binaries, for installations and tests that have no database configured.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running private PostgreSQL.
type Server struct {
	bin     string
	dataDir string
	sockDir string
	cred    *syscall.Credential
	owned   bool // we started it, so we stop it
	log     *slog.Logger
}

// InstallHint tells a person how to get the server binaries.
const InstallHint = "install the PostgreSQL server binaries (Debian/Ubuntu: apt-get install postgresql; " +
	"Fedora: dnf install postgresql-server) or set HELPDESK_DATABASE_URL to an existing database"

// FindBinaries returns the directory holding initdb and pg_ctl: from PATH,
// else the newest /usr/lib/postgresql/*/bin.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin: %s", InstallHint)
}

func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// Start initialises dir on first use and starts a server listening only on a
// Unix socket inside dir, so it never clashes with another server's port.
// If the server in dir is already running it is reused and left running.
// As root, the server runs as the unprivileged "postgres" user (or "nobody"),
// because PostgreSQL refuses to run as root.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dataDir: filepath.Join(dir, "data"), sockDir: filepath.Join(dir, "run"), log: log}
	// A Unix socket path is limited to about 107 bytes.
	if len(s.sockDir)+len("/.s.PGSQL.5432") > 100 {
		return nil, fmt.Errorf("data directory %s is too deep for a Unix socket path: choose a shorter one", dir)
	}
	if err := os.MkdirAll(s.sockDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.sockDir, err)
	}
	if os.Geteuid() == 0 {
		if err := s.dropRoot(dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		log.Info("initialising private PostgreSQL", "dir", s.dataDir)
		if out, err := s.run(ctx, "initdb", "-D", s.dataDir, "-U", "helpdesk", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb %s: %w\n%s", s.dataDir, err, out)
		}
	}
	if _, err := s.run(ctx, "pg_ctl", "status", "-D", s.dataDir); err == nil {
		log.Info("reusing running private PostgreSQL", "dir", s.dataDir)
	} else {
		opts := fmt.Sprintf("-c listen_addresses='' -k %s -c fsync=on -c max_connections=200", s.sockDir)
		if out, err := s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", s.dataDir,
			"-l", filepath.Join(dir, "postgres.log"), "-o", opts); err != nil {
			return nil, fmt.Errorf("start PostgreSQL in %s: %w\n%s (see %s)", s.dataDir, err, out, filepath.Join(dir, "postgres.log"))
		}
		s.owned = true
		log.Info("started private PostgreSQL", "dir", s.dataDir)
	}
	if err := s.createDatabase(ctx, "helpdesk"); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// dropRoot makes dir owned by an unprivileged user and arranges for the
// server to run as that user. Ancestors of dir get search permission (o+x)
// where they lack it, so that user can reach the data directory; a private
// temp directory or /root would otherwise block it.
func (s *Server) dropRoot(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return fmt.Errorf("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as: %w", err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("hand %s to user %s: %w", dir, u.Username, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			s.log.Info("granting search permission so PostgreSQL can reach its data directory", "dir", p, "user", u.Username)
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("grant search permission on %s: %w", p, err)
			}
		}
		if p == "/" {
			return nil
		}
	}
}

func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	err := cmd.Run()
	return out.Bytes(), err
}

func (s *Server) createDatabase(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.urlFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (s *Server) urlFor(db string) string {
	return fmt.Sprintf("postgres://helpdesk@/%s?host=%s&sslmode=disable", db, strings.ReplaceAll(s.sockDir, "/", "%2F"))
}

// URL is the connection string of the server's helpdesk database.
func (s *Server) URL() string { return s.urlFor("helpdesk") }

// Stop shuts the server down if Start started it.
func (s *Server) Stop() {
	if s == nil || !s.owned {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := s.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", s.dataDir); err != nil {
		s.log.Error("stop private PostgreSQL", "dir", s.dataDir, "err", err, "output", string(out))
		return
	}
	s.log.Info("stopped private PostgreSQL", "dir", s.dataDir)
}
