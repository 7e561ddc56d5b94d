package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// The staff console's stores: accounts, the audit log and the people
// directory in the database, sessions and sign-in failure counts in
// Redis, all shared by every replica. The adapters below convert the
// stores' record types, which mirror admin's, field for field.

// consoleStaff returns the staff console's StaffConfig and its people
// directory on st.
func consoleStaff(ctx context.Context, st stores) (admin.StaffConfig, admin.PeopleDirectory, error) {
	s, err := sqlstore.NewAdmin(ctx, st.db)
	if err != nil {
		return admin.StaffConfig{}, nil, err
	}
	return admin.StaffConfig{
		Staff:    staffStore{s},
		Sessions: sessionStore{redisstore.NewAdminSessions(st.rdb)},
		Audit:    auditLog{s},
		Limiter:  redisstore.NewSignInLimiter(st.rdb),
	}, s, nil
}

type staffStore struct{ s *sqlstore.Admin }

func toStaff(m sqlstore.StaffMember) admin.StaffMember {
	return admin.StaffMember{Name: m.Name, Role: admin.Role(m.Role), PasswordHash: m.PasswordHash, Disabled: m.Disabled, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func fromStaff(m admin.StaffMember) sqlstore.StaffMember {
	return sqlstore.StaffMember{Name: m.Name, Role: string(m.Role), PasswordHash: m.PasswordHash, Disabled: m.Disabled, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func (a staffStore) Staff(ctx context.Context, name string) (admin.StaffMember, error) {
	m, err := a.s.Staff(ctx, name)
	return toStaff(m), err
}

func (a staffStore) ListStaff(ctx context.Context) ([]admin.StaffMember, error) {
	ms, err := a.s.ListStaff(ctx)
	out := make([]admin.StaffMember, len(ms))
	for i, m := range ms {
		out[i] = toStaff(m)
	}
	return out, err
}

func (a staffStore) AddStaff(ctx context.Context, m admin.StaffMember) error {
	return a.s.AddStaff(ctx, fromStaff(m))
}

func (a staffStore) UpdateStaff(ctx context.Context, m admin.StaffMember) error {
	return a.s.UpdateStaff(ctx, fromStaff(m))
}

func (a staffStore) RemoveStaff(ctx context.Context, name string) error {
	return a.s.RemoveStaff(ctx, name)
}

type sessionStore struct{ s *redisstore.AdminSessions }

func (a sessionStore) PutSession(ctx context.Context, s admin.Session) error {
	return a.s.PutSession(ctx, redisstore.AdminSession{ID: s.ID, Name: s.Name, Role: string(s.Role), CSRF: s.CSRF, Expires: s.Expires})
}

func (a sessionStore) Session(ctx context.Context, id string) (admin.Session, error) {
	s, err := a.s.Session(ctx, id)
	return admin.Session{ID: s.ID, Name: s.Name, Role: admin.Role(s.Role), CSRF: s.CSRF, Expires: s.Expires}, err
}

func (a sessionStore) DeleteSession(ctx context.Context, id string) error {
	return a.s.DeleteSession(ctx, id)
}

func (a sessionStore) DeleteSessionsOf(ctx context.Context, name string) error {
	return a.s.DeleteSessionsOf(ctx, name)
}

type auditLog struct{ s *sqlstore.Admin }

func (a auditLog) Record(ctx context.Context, e admin.AuditEntry) error {
	return a.s.Record(ctx, sqlstore.AuditEntry(e))
}

// Recent implements admin.HandledLog.
func (a auditLog) Recent(ctx context.Context, actions []string, limit int) ([]admin.AuditEntry, error) {
	es, err := a.s.Recent(ctx, actions, limit)
	out := make([]admin.AuditEntry, len(es))
	for i, e := range es {
		out[i] = admin.AuditEntry(e)
	}
	return out, err
}

func (a auditLog) Audit(ctx context.Context, before int64, limit int) ([]admin.AuditEntry, error) {
	es, err := a.s.Audit(ctx, before, limit)
	out := make([]admin.AuditEntry, len(es))
	for i, e := range es {
		out[i] = admin.AuditEntry(e)
	}
	return out, err
}

// overviewStore adapts sqlstore.Overview to admin.OverviewStore.
type overviewStore struct{ *sqlstore.Overview }

// OpenAlerts implements admin.OverviewStore.
func (o overviewStore) OpenAlerts(ctx context.Context) ([]admin.AlertCount, error) {
	cs, err := o.Overview.OpenAlerts(ctx)
	out := make([]admin.AlertCount, len(cs))
	for i, c := range cs {
		out[i] = admin.AlertCount(c)
	}
	return out, err
}

// DeadReasons implements admin.OverviewStore.
func (o overviewStore) DeadReasons(ctx context.Context, limit int) ([]admin.DeadReason, error) {
	rs, err := o.Overview.DeadReasons(ctx, limit)
	out := make([]admin.DeadReason, len(rs))
	for i, r := range rs {
		out[i] = admin.DeadReason(r)
	}
	return out, err
}

// optOutLister adapts sqlstore.DND to admin.OptOutLister.
type optOutLister struct{ *sqlstore.DND }

// OptedOut implements admin.OptOutLister.
func (l optOutLister) OptedOut(ctx context.Context, cursor string, limit int) ([]admin.OptOut, error) {
	rs, err := l.DND.OptedOut(ctx, cursor, limit)
	out := make([]admin.OptOut, len(rs))
	for i, r := range rs {
		out[i] = admin.OptOut(r)
	}
	return out, err
}

// Interface guards.
var (
	_ admin.StaffStore      = staffStore{}
	_ admin.SessionStore    = sessionStore{}
	_ admin.AuditLog        = auditLog{}
	_ admin.HandledLog      = auditLog{}
	_ admin.Limiter         = (*redisstore.SignInLimiter)(nil)
	_ admin.PeopleDirectory = (*sqlstore.Admin)(nil)
	_ admin.OverviewStore   = overviewStore{}
	_ admin.DeadGrouper     = overviewStore{}
	_ admin.OptOutLister    = optOutLister{}
	_ admin.OutboxPager     = (*sqlstore.Outbox)(nil)
	_ admin.DailyCounter    = (*redisstore.DailyCounts)(nil)
)

const staffUsage = `usage:
  siyu staff add NAME --role viewer|operator|admin   password read from stdin (one line)
  siyu staff passwd NAME                             new password read from stdin; ends their sessions
  siyu staff role NAME viewer|operator|admin         change a role; ends their sessions
  siyu staff disable|enable NAME
  siyu staff remove NAME
  siyu staff list
`

// cmdStaff is `siyu staff …`: staff accounts of the console, on the
// database and Redis of the configuration (the same environment as the
// server). The first admin is made this way:
//
//	printf '%s\n' "$PASSWORD" | siyu staff add 店长 --role admin
func cmdStaff(ctx context.Context, env runEnv) error {
	args := env.args[1:]
	if len(args) == 0 {
		fmt.Fprint(env.stderr, staffUsage)
		return errors.New("staff: which command?")
	}
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	logger := newLogger(env.stderr, "warn", cfg.LogFormat)
	st, closeStores, err := openStores(ctx, cfg, logger, env.redisPrefix)
	if err != nil {
		return err
	}
	defer closeStores()
	sc, _, err := consoleStaff(ctx, st)
	if err != nil {
		return err
	}
	return staffCommand(ctx, sc.Staff, sc.Sessions, env.stdin, env.stdout, args, time.Now)
}

// staffCommand runs one staff command on the stores.
func staffCommand(ctx context.Context, staff admin.StaffStore, sessions admin.SessionStore, stdin io.Reader, stdout io.Writer, args []string, now func() time.Time) error {
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("staff %s: wrong arguments\n%s", args[0], staffUsage)
		}
		return nil
	}
	readPassword := func() (string, error) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("staff: reading the password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("staff: no password on stdin")
		}
		return pw, nil
	}
	update := func(name string, change func(*admin.StaffMember) error) error {
		m, err := staff.Staff(ctx, name)
		if err != nil {
			return fmt.Errorf("staff: %s: %w", name, err)
		}
		if err := change(&m); err != nil {
			return err
		}
		m.UpdatedAt = now()
		if err := staff.UpdateStaff(ctx, m); err != nil {
			return err
		}
		return sessions.DeleteSessionsOf(ctx, name)
	}
	switch args[0] {
	case "add":
		if err := need(4); err != nil || args[2] != "--role" {
			return fmt.Errorf("staff add: wrong arguments\n%s", staffUsage)
		}
		name := args[1]
		if err := admin.CheckStaffName(name); err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		role, err := admin.ParseRole(args[3])
		if err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := admin.HashPassword(pw)
		if err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		t := now()
		if err := staff.AddStaff(ctx, admin.StaffMember{Name: name, Role: role, PasswordHash: hash, CreatedAt: t, UpdatedAt: t}); err != nil {
			if errors.Is(err, bot.ErrConflict) {
				return fmt.Errorf("staff add: %s exists already (siyu staff passwd %s changes the password)", name, name)
			}
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", name, role)
	case "passwd":
		if err := need(2); err != nil {
			return err
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := admin.HashPassword(pw)
		if err != nil {
			return fmt.Errorf("staff passwd: %w", err)
		}
		if err := update(args[1], func(m *admin.StaffMember) error { m.PasswordHash = hash; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their sessions ended\n", args[1])
	case "role":
		if err := need(3); err != nil {
			return err
		}
		role, err := admin.ParseRole(args[2])
		if err != nil {
			return fmt.Errorf("staff role: %w", err)
		}
		if err := update(args[1], func(m *admin.StaffMember) error { m.Role = role; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s; their sessions ended\n", args[1], role)
	case "disable", "enable":
		if err := need(2); err != nil {
			return err
		}
		off := args[0] == "disable"
		if err := update(args[1], func(m *admin.StaffMember) error { m.Disabled = off; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", args[1], args[0])
	case "remove":
		if err := need(2); err != nil {
			return err
		}
		if err := staff.RemoveStaff(ctx, args[1]); err != nil {
			return fmt.Errorf("staff remove: %s: %w", args[1], err)
		}
		if err := sessions.DeleteSessionsOf(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", args[1])
	case "list":
		ms, err := staff.ListStaff(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tSTATE\tUPDATED")
		for _, m := range ms {
			state := "active"
			if m.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.Name, m.Role, state, m.UpdatedAt.Format(time.RFC3339))
		}
		return w.Flush()
	default:
		return fmt.Errorf("staff: unknown command %q\n%s", args[0], staffUsage)
	}
	return nil
}
