// Package coretest gives each test a fresh, migrated PostgreSQL database.
package coretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"helpdesk/core"
	"helpdesk/core/pglocal"
)

// Required reports whether missing test servers are failures rather than
// skips: under scripts/test and in CI.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("HELPDESK_TEST_REQUIRE") == "1"
}

var (
	once     sync.Once
	baseURL  string
	template string
	setupErr error
	local    *pglocal.Server
	localDir string
)

// Main runs a package's tests and stops the private server, if one was started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if template != "" && setupErr == nil {
		if conn, err := pgx.Connect(context.Background(), baseURL); err == nil {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	}
	if local != nil {
		local.Stop()
		os.RemoveAll(localDir)
	}
	os.Exit(code)
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	baseURL = os.Getenv("HELPDESK_TEST_DATABASE_URL")
	if baseURL == "" {
		if _, err := pglocal.FindBinaries(); err != nil {
			setupErr = fmt.Errorf("HELPDESK_TEST_DATABASE_URL is not set and %w", err)
			return
		}
		localDir, setupErr = os.MkdirTemp("", "hdpg")
		if setupErr != nil {
			return
		}
		local, setupErr = pglocal.Start(ctx, localDir, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if setupErr != nil {
			return
		}
		baseURL = local.URL()
	}
	// Migrate once into a template; each test clones it, which is much faster
	// than migrating every test database.
	template = "hdtpl_" + randomName()
	if setupErr = createDatabase(ctx, template, ""); setupErr != nil {
		return
	}
	s, err := core.Open(ctx, withDatabase(baseURL, template), core.Options{})
	if err != nil {
		setupErr = err
		return
	}
	defer s.Close()
	_, setupErr = s.Migrate(ctx)
}

// URL returns the connection string of a fresh, migrated database that is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyURL is URL without the schema: an empty database, for tests of
// upgrades and restores.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		if Required() {
			t.Fatalf("PostgreSQL for tests: %v", setupErr)
		}
		t.Skipf("no PostgreSQL for tests: %v", setupErr)
	}
	ctx := context.Background()
	name := "hdt_" + randomName()
	from := "template0"
	if migrated {
		from = template // set by setup, above
	}
	if err := createDatabase(ctx, name, from); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(baseURL, name)
}

// Secret is the reply-token secret test stores use.
var Secret = []byte("test-secret-0123456789")

// NewStore opens a store on a fresh database.
func NewStore(t testing.TB) *core.Store {
	t.Helper()
	s, err := core.Open(context.Background(), URL(t), core.Options{Domain: "desk.test", Secret: Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// createDatabase serialises CREATE DATABASE: PostgreSQL refuses to copy a
// template that another session is copying at the same time.
var createMu sync.Mutex

func createDatabase(ctx context.Context, name, from string) error {
	createMu.Lock()
	defer createMu.Unlock()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(baseURL), err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + name
	if from != "" {
		sql += " TEMPLATE " + from
	}
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, sql)
		// Another test process may be cloning the same template
		// (object_in_use): wait for it.
		var pgErr *pgconn.PgError
		if err == nil || attempt > 50 || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func withDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "database"
	}
	return p.Redacted()
}

func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// OpenSame opens a second store on the database behind s: another daemon.
func OpenSame(t testing.TB, s *core.Store) *core.Store {
	return OpenSameWith(t, s, core.Options{})
}

// OpenSameWith is OpenSame with other options; the test domain and secret
// are filled in when opts leaves them empty.
func OpenSameWith(t testing.TB, s *core.Store, opts core.Options) *core.Store {
	t.Helper()
	if opts.Domain == "" {
		opts.Domain, opts.Secret = "desk.test", Secret
	}
	other, err := core.Open(context.Background(), s.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}

// Ingest takes in one message as intake does: a batch of one.
func Ingest(ctx context.Context, s *core.Store, in *core.Inbound, now time.Time) (core.IngestResult, error) {
	res, err := s.IngestBatch(ctx, []*core.Inbound{in}, nil, now)
	if err != nil {
		return core.IngestResult{}, err
	}
	return res[0], nil
}

// Dump returns the rows of a query on the database behind s as text, one
// row a line: for tests that check what is (not) in a table.
func Dump(t testing.TB, s *core.Store, query string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	return b.String()
}
