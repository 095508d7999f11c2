// Package reports is the operator's queue of user reports (spec/api.md
// §12.1): of a channel or one of its records, and of an account ("report
// and block", spec/client.md §11.7). The HTTP routes in server/httpapi
// only decode requests and call a Service.
//
// A report of an account carries the reporter's category and note and
// nothing of the messages: the server never had them in the clear.
package reports

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// MaxNote is the longest note a report may carry, in bytes.
const MaxNote = 1024

// Service takes reports and lists them for the operator.
type Service struct {
	store store.Store
	now   func() time.Time
}

// New returns a Service over st; now is the clock (time.Now if nil).
func New(st store.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now}
}

func badRequest(format string, args ...any) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

var (
	errNoSuchChannel = &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "No channel has this handle."}
	errNoSuchAccount = &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "No account has this username."}
	errNoSuchRecord  = &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "The channel has no record with this ID."}
	errSelf          = badRequest("You cannot report your own account.")
)

// Report stores the report req by the account reporter.
func (s *Service) Report(ctx context.Context, reporter int64, req api.ReportRequest) error {
	if !slices.Contains(api.ReportCategories, req.Category) || len(req.Note) > MaxNote {
		return badRequest("category must be one of %v, and note at most %d bytes.", api.ReportCategories, MaxNote)
	}
	if (req.Channel == "") == (req.Account == "") {
		return badRequest("A report names either a channel or an account.")
	}
	rep := store.Report{ReporterID: reporter, Category: req.Category, Note: req.Note, Created: s.now()}
	if req.Account != "" {
		if req.RecordID != nil {
			return badRequest("A record ID goes with a channel, not an account.")
		}
		name, err := api.NormalizeUsername(req.Account)
		if err != nil {
			return errNoSuchAccount
		}
		a, err := s.store.AccountByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchAccount
		} else if err != nil {
			return err
		}
		if a.ID == reporter {
			return errSelf
		}
		rep.AccountID = a.ID
		_, err = s.store.AddReport(ctx, rep)
		return err
	}
	handle, err := api.NormalizeUsername(req.Channel)
	if err != nil {
		return errNoSuchChannel
	}
	c, err := s.store.ChannelByHandle(ctx, handle)
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchChannel
	} else if err != nil {
		return err
	}
	rep.ChannelID = c.ID
	if req.RecordID != nil {
		if len(req.RecordID) != 16 {
			return badRequest("A record ID is 16 bytes.")
		}
		id := [16]byte(req.RecordID)
		if _, err := s.store.ChannelRecordByID(ctx, c.ID, id); errors.Is(err, store.ErrNotFound) {
			return errNoSuchRecord
		} else if err != nil {
			return err
		}
		rep.RecordID = &id
	}
	_, err = s.store.AddReport(ctx, rep)
	return err
}

// List returns the newest limit reports, for the operator.
func (s *Service) List(ctx context.Context, limit int) ([]api.ReportInfo, error) {
	rs, err := s.store.Reports(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.ReportInfo, 0, len(rs))
	for _, rep := range rs {
		ri := api.ReportInfo{ID: rep.ID, Account: rep.AccountName, Reporter: rep.ReporterName, Category: rep.Category, Note: rep.Note, Created: rep.Created.UnixMilli()}
		if rep.ChannelID != 0 {
			c, err := s.store.ChannelByID(ctx, rep.ChannelID)
			if err != nil {
				return nil, err
			}
			ri.Channel = c.Handle
		}
		if rep.RecordID != nil {
			ri.RecordID = hex.EncodeToString(rep.RecordID[:])
		}
		out = append(out, ri)
	}
	return out, nil
}
