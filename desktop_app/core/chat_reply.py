"""A reply to a user's message that has none yet: the turn behind the chat's "Reply" button.

A chat can end with the user's message: an imported chat, or one whose reply was deleted. `begin`
would add a second user message and `regenerate` needs a reply to sit beside, so this turn adds the
assistant message under the user's message and sends the branch up to it, the way `ChatSession` does
(seed fixed and recorded, history read from the store, the reply saved as it streams).

It belongs beside `ChatSession.begin`; until it moves there it uses only ChatSession's public parts.
"""

from __future__ import annotations

from desktop_app.core.chat_session import ChatSession, ChatTurn, engine_messages
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.reply_writer import with_fixed_seed

__all__ = ["reply_to"]


def reply_to(
    session: ChatSession, message_id: int, sampling: SamplingSettings, *, model: str | None = None
) -> ChatTurn:
    """A new reply to the user message `message_id`, which must end the branch on screen (ValueError
    otherwise: the chat moved on meanwhile)."""
    store = session.store
    prompt = store.get_message(message_id)
    if prompt.role != "user":
        raise ValueError("only a user's message can be replied to")
    branch = store.path(prompt.conversation_id)
    if not branch or branch[-1].id != message_id:
        raise ValueError("only the last message of the branch shown can be replied to")
    fixed = with_fixed_seed(sampling)
    writer = store.start_reply(
        prompt.conversation_id, message_id, model=model, sampling=fixed, interval_s=session.interval_s
    )
    reply = store.get_message(writer.message_id)
    conversation = store.get_conversation(prompt.conversation_id)
    return ChatTurn(
        conversation=conversation,
        prompt=None,
        reply=reply,
        messages=engine_messages(conversation, [*branch]),
        sampling=fixed,
        continue_last=False,
        writer=writer,
    )
