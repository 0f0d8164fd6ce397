// tlogcheck verifies a C2SP tiled transparency log the way any generic client would,
// with filippo.io/torchwood and golang.org/x/mod/sumdb: it fetches the checkpoint
// from <log>/checkpoint, checks its signature with the given verifier key, checks
// every given history checkpoint and its consistency with the latest one, proves
// the inclusion of the given entries from the tiles, and reads every entry bundle.
//
// The log URL may be http(s):// or file://. It prints one JSON object on stdout and
// exits non-zero, with the reason on stderr, if anything does not verify.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proved struct {
	Index int64  `json:"index"`
	Entry string `json:"entry"`
	Proof int    `json:"proof_hashes"`
}

type result struct {
	Origin     string   `json:"origin"`
	Size       int64    `json:"size"`
	Root       string   `json:"root"`
	Entries    int64    `json:"entries"`
	Proved     []proved `json:"proved"`
	Consistent []int64  `json:"consistent"`
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	logURL := flag.String("log", "", "log prefix URL (http://, https:// or file://)")
	vkey := flag.String("vkey", "", "the log's verifier key")
	origin := flag.String("origin", "", "expected checkpoint origin")
	var indexes, history list
	flag.Var(&indexes, "index", "prove the inclusion of this entry (repeatable)")
	flag.Var(&history, "history", "a history checkpoint path under the log prefix (repeatable)")
	flag.Parse()
	out, err := run(*logURL, *vkey, *origin, indexes, history)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func run(logURL, vkey, origin string, indexes, history []string) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if strings.HasPrefix(logURL, "file://") {
		transport := &http.Transport{}
		transport.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
		client.Transport = transport
	}
	fetcher, err := torchwood.NewTileFetcher(logURL, torchwood.WithHTTPClient(client))
	if err != nil {
		return nil, err
	}
	open := func(path string) (torchwood.Checkpoint, error) {
		signed, err := fetcher.ReadEndpoint(ctx, path)
		if err != nil {
			return torchwood.Checkpoint{}, fmt.Errorf("fetching %s: %w", path, err)
		}
		n, err := note.Open(signed, note.VerifierList(verifier))
		if err != nil {
			return torchwood.Checkpoint{}, fmt.Errorf("%s does not verify: %w", path, err)
		}
		c, err := torchwood.ParseCheckpoint(n.Text)
		if err != nil {
			return torchwood.Checkpoint{}, fmt.Errorf("%s: %w", path, err)
		}
		if origin != "" && c.Origin != origin {
			return torchwood.Checkpoint{}, fmt.Errorf("%s is for origin %q, not %q", path, c.Origin, origin)
		}
		return c, nil
	}
	latest, err := open("checkpoint")
	if err != nil {
		return nil, err
	}
	tree := tlog.Tree{N: latest.N, Hash: latest.Hash}
	out := &result{Origin: latest.Origin, Size: latest.N, Root: latest.Hash.String()}
	hashes := torchwood.TileHashReaderWithContext(ctx, tree, fetcher)
	for _, path := range history {
		old, err := open(path)
		if err != nil {
			return nil, err
		}
		proof, err := tlog.ProveTree(tree.N, old.N, hashes)
		if err != nil {
			return nil, fmt.Errorf("consistency proof %d -> %d from the tiles: %w", old.N, tree.N, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			return nil, fmt.Errorf("%s is not consistent with the latest checkpoint: %w", path, err)
		}
		out.Consistent = append(out.Consistent, old.N)
	}
	reader, err := torchwood.NewClient(fetcher)
	if err != nil {
		return nil, err
	}
	for _, text := range indexes {
		index, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("index %q: %w", text, err)
		}
		entry, proof, err := reader.Entry(ctx, tree, index)
		if err != nil {
			return nil, err
		}
		out.Proved = append(out.Proved, proved{index, hex.EncodeToString(entry), len(proof)})
	}
	for out.Entries < tree.N {
		before := out.Entries
		for i := range reader.Entries(ctx, tree, out.Entries) {
			if i != out.Entries {
				return nil, fmt.Errorf("entry %d came after %d", i, out.Entries-1)
			}
			out.Entries++
		}
		if err := reader.Err(); err != nil {
			return nil, fmt.Errorf("reading entries from %d: %w", out.Entries, err)
		}
		if out.Entries == before {
			return nil, fmt.Errorf("no progress reading entries at %d", before)
		}
	}
	return out, nil
}
