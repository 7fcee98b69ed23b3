from console.roles import is_admin


def roles(request):
    user = getattr(request, "user", None)
    return {"is_admin": bool(user and is_admin(user))}
