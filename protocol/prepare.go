package protocol

import "context"

// Preparer is implemented by a Handler that can do part of its clients'
// work before a client arrives: a unix or chgunix worker calls Prepare
// once, after the constructor (NewHandler) and before it waits for its
// first client, while no one waits for it. It suits a Handler that is
// not Reusable, whose worker serves one client: per-client state that
// must not be shared between clients (a command tree built with its
// flags at their defaults, say) can be built there rather than while the
// user waits.
//
// Prepare is called only there, and in a pipe server's spare child (kept,
// from a session's first exit on, to take over when the child serving it
// exits): a direct run, a pipe server's other children, a worker's later
// clients and a Handler rebuilt because a dependency changed get no
// call, so ServeCommand must do what Prepare did not. An error is
// logged and the worker serves its client all the same (ServeCommand then
// finds itself unprepared).
type Preparer interface {
	Prepare(ctx context.Context) error
}
