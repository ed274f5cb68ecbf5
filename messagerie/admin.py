from django.contrib import admin

from .models import Conversation, Message, Participation


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "updated_at"]
    inlines = [ParticipationInline]
    search_fields = ["participants__email"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "auteur", "created_at", "lu_at"]
    list_filter = [("lu_at", admin.EmptyFieldListFilter)]
    search_fields = ["contenu", "auteur__email"]
    raw_id_fields = ["conversation", "auteur"]
