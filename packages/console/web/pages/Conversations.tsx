import { useState } from "preact/hooks"
import { ErrorMessage, formatTime, PageHeading, useCall, usePolling } from "../components.tsx"

/** Conversations, newest first, a page at a time; search by the caller's own conversation id. */

export const Conversations = () => {
  const call = useCall()
  const [search, setSearch] = useState("")
  const [applied, setApplied] = useState("")
  // The cursors of the pages before this one (the first page's is the empty string).
  const [cursors, setCursors] = useState<ReadonlyArray<string>>([""])
  const cursor = cursors[cursors.length - 1] ?? ""
  const list = usePolling(
    JSON.stringify([applied, cursor]),
    () =>
      call((client) =>
        client.history.listConversations({
          query: {
            limit: 20,
            ...(cursor === "" ? {} : { cursor }),
            ...(applied === "" ? {} : { externalConversationId: applied })
          }
        })
      ),
    3000
  )
  const items = list.data?.items ?? []
  const next = list.data?.nextCursor ?? null
  return (
    <section>
      <PageHeading>Conversations</PageHeading>
      <form
        class="search"
        aria-label="Search conversations"
        onSubmit={(event) => {
          event.preventDefault()
          setApplied(search.trim())
          setCursors([""])
        }}
      >
        <label for="conversation-search">Your conversation id</label>
        <input
          id="conversation-search"
          type="search"
          value={search}
          onInput={(event) => setSearch(event.currentTarget.value)}
        />
        <button type="submit">Search</button>
        {applied !== "" ? (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setSearch("")
              setApplied("")
              setCursors([""])
            }}
          >
            Show all
          </button>
        ) : null}
      </form>
      <ErrorMessage message={list.error} />
      <div class="table-wrap">
        <table>
          <caption>
            {applied === "" ? "Conversations, newest first" : `Conversations with the id “${applied}”`}
          </caption>
          <thead>
            <tr>
              <th scope="col">Your id</th>
              <th scope="col">Messages in / out</th>
              <th scope="col">Pending</th>
              <th scope="col">Dead letters</th>
              <th scope="col">Last activity</th>
            </tr>
          </thead>
          <tbody>
            {items.map((conversation) => (
              <tr key={conversation.id}>
                <td>
                  <a href={`#/conversations/${conversation.id}`}>{conversation.externalConversationId}</a>
                </td>
                <td>
                  {conversation.userMessageCount} / {conversation.botMessageCount}
                </td>
                <td>{conversation.pendingCount}</td>
                <td>{conversation.deadLetteredCount}</td>
                <td>{formatTime(conversation.lastActivityAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data !== null && items.length === 0 ? <p>No conversations.</p> : null}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={next === null}
          onClick={() => next !== null && setCursors([...cursors, next])}
        >
          Next page
        </button>
      </nav>
    </section>
  )
}
