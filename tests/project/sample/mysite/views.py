from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from .models import Article


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ("title", "body")


def article_list(request):
    articles = Article.objects.order_by("-published")[:20]
    return render(request, "mysite/article_list.html", {"articles": articles})


def article_detail(request, pk):
    article = get_object_or_404(Article, pk=pk)
    return render(request, "mysite/article_detail.html", {"article": article})


def article_new(request):
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        article = form.save()
        return redirect("article-detail", pk=article.pk)
    return render(request, "mysite/article_form.html", {"form": form})


@login_required
def dashboard(request):
    return HttpResponse(f"Hello, {request.user.get_username()}")
