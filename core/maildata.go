package core

// MailData is what a mail template reads ({{.Number}}, {{.Body}}, …): the
// recipient and the ticket, filled in for every mail about a ticket, and
// the fields of the mail's own kind. It is kept in the outbox as JSON under
// these names (old rows read the same), so a mail renders as it was queued
// whichever version sends it. Templates in templates_dir may use any field.
type MailData struct {
	// The recipient.
	ToName  string `json:",omitempty"`
	ToEmail string `json:",omitempty"`

	// The ticket, for mail about one.
	Number     int64  `json:",omitempty"`
	Subject    string `json:",omitempty"`
	Status     string `json:",omitempty"`
	Priority   string `json:",omitempty"`
	Customer   string `json:",omitempty"`
	Topic      string `json:",omitempty"`
	SLAPlan    string `json:",omitempty"`
	Team       string `json:",omitempty"`
	Assignee   string `json:",omitempty"`
	ReplyToken string `json:",omitempty"`
	StatusURL  string `json:",omitempty"` // customers' mail: the read-only status page

	// A message, response or note, and the customer's files with it.
	Body          string     `json:",omitempty"`
	From          string     `json:",omitempty"`
	Agent         string     `json:",omitempty"`
	AuthorID      int64      `json:",omitempty"` // the agent who wrote it, told if it fails
	Files         []FileLink `json:",omitempty"`
	FilesAttached bool       `json:",omitempty"`

	// Commands by mail: what changed, or the line that failed.
	Changes []string `json:",omitempty"`
	By      string   `json:",omitempty"`
	Line    int      `json:",omitempty"`
	Command string   `json:",omitempty"`
	Error   string   `json:",omitempty"`

	// SLA alerts: the ladder step that fired and, as Lateness states them,
	// how late the target is or how long is left.
	Target string `json:",omitempty"`
	Due    string `json:",omitempty"`
	Late   string `json:",omitempty"`
	Left   string `json:",omitempty"`
	Step   int    `json:",omitempty"`
	Thread string `json:",omitempty"` // an excerpt of the thread so far

	// Alerts to the admins and digests.
	Mailbox      string   `json:",omitempty"`
	Server       string   `json:",omitempty"`
	Account      string   `json:",omitempty"`
	Fix          string   `json:",omitempty"`
	Reason       string   `json:",omitempty"`
	Since        string   `json:",omitempty"`
	Recovered    bool     `json:",omitempty"`
	QuarantineID int64    `json:",omitempty"`
	Count        int      `json:",omitempty"` // a digest's events; the outbox row counts up in SQL
	Items        []string `json:",omitempty"`
	Sender       string   `json:",omitempty"`
	Limit        int      `json:",omitempty"`
	Window       string   `json:",omitempty"`
	PerSender    int      `json:",omitempty"`
	PerDomain    int      `json:",omitempty"`
	Claimed      string   `json:",omitempty"` // unverified agent mail: whom it claimed to be from

	// A failed delivery.
	Address       string `json:",omitempty"`
	What          string `json:",omitempty"`
	Undeliverable bool   `json:",omitempty"`

	// A merge.
	Into        int64  `json:",omitempty"`
	IntoSubject string `json:",omitempty"`

	// An agent's queue.
	Tickets []QueueItem `json:",omitempty"`
	Morning bool        `json:",omitempty"`

	// The weekly report.
	Report *ReportMail `json:",omitempty"`
}

// FileLink is a customer's file in agents' mail: attached, or linked when
// the files are too large to attach.
type FileLink struct {
	Name, Size string
	URL        string `json:",omitempty"`
}

// QueueItem is one ticket in an agent's queue mail.
type QueueItem struct {
	Number                              int64
	Subject, Status, Priority, Customer string
	Due                                 string `json:",omitempty"`
	URL                                 string `json:",omitempty"`
	Mine, Overdue                       bool
}
