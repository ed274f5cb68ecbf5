from django.contrib import admin

from audit import journal
from audit.admin import JournaliseAdmin
from rendezvous.admin_portee import SuperAdminSeulement

from .models import Conversation, Message, Participation


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Conversation)
class ConversationAdmin(SuperAdminSeulement, JournaliseAdmin, admin.ModelAdmin):
    """Super admins only: a practice's staff read their conversations in the app."""

    list_display = ["id", "created_at", "updated_at"]
    inlines = [ParticipationInline]
    search_fields = ["participants__email"]
    # The list shows ids and dates only; the page of one conversation shows its participants.
    journal_liste = False
    journal_objet_type = journal.TypeObjet.CONVERSATION

    def journal_patients(self, objs):
        objs = list(objs)
        patients = journal.patients_par_conversation(c.pk for c in objs)
        return journal.par_patient((patients[c.pk], c.pk) for c in objs)


@admin.register(Message)
class MessageAdmin(SuperAdminSeulement, JournaliseAdmin, admin.ModelAdmin):
    list_display = ["id", "conversation", "auteur", "created_at", "lu_at"]
    list_filter = [("lu_at", admin.EmptyFieldListFilter)]
    search_fields = ["contenu", "auteur__email"]
    raw_id_fields = ["conversation", "auteur"]
    journal_objet_type = journal.TypeObjet.MESSAGE

    def journal_patients(self, objs):
        objs = list(objs)
        patients = journal.patients_par_conversation(m.conversation_id for m in objs)
        return journal.par_patient((patients[m.conversation_id], m.pk) for m in objs)
