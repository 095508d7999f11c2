package client

import (
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/termtext"
)

// A received file's name is the sender's choice; SafeName is the name a
// receiver saves it under (spec/client.md §8).
const (
	// maxSafeName bounds a safe name, in bytes. File systems take 255;
	// this leaves room for the temporary name a download is written
	// under first ("." + name + ".part-" + up to 10 digits).
	maxSafeName = 200
	// maxSafeExt is the longest extension, dot included, that cutting a
	// long name keeps.
	maxSafeExt = 16
	// noName is the safe name of a name with nothing safe left in it.
	noName = "attachment"
)

// SafeName is Name reduced to a base name that is safe to create in a
// directory and to show: the part after the last / or \; with each
// character termtext.Unsafe names (controls, ESC, DEL, bidirectional
// controls, line separators), each byte that is not UTF-8 and each ':'
// replaced by '_'; without leading dots, dashes or spaces (no hidden file,
// nothing a command takes for an option) or trailing spaces; cut to 200
// bytes on a character boundary, keeping an extension of up to 16 bytes;
// never empty, "." or "..". A safe name is its own SafeName.
func (a *Attachment) SafeName() string {
	name := a.Name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if termtext.Unsafe(r) || r == utf8.RuneError || r == ':' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r == '.' || r == '-' || unicode.IsSpace(r) })
	name = strings.TrimRightFunc(name, unicode.IsSpace)
	if len(name) > maxSafeName {
		ext := filepath.Ext(name)
		if len(ext) > maxSafeExt {
			ext = ""
		}
		name = strings.TrimRightFunc(cutUTF8(name[:len(name)-len(ext)], maxSafeName-len(ext)), unicode.IsSpace) + ext
	}
	if name == "" {
		return noName
	}
	return name
}

// cutUTF8 returns the longest prefix of s that is at most n bytes and
// ends on a character boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
